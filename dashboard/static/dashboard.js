// Kronos forecast dashboard: reads only the service's public HTTP API.
// window.dashboardState holds what the page shows (for people debugging it, and for the tests).
"use strict";

(() => {
  // Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
  const COLORS = {
    history: "#1a1a1a",
    mean: "#0072B2",
    median: "#D55E00",
    band80: "rgba(0, 114, 178, 0.40)",
    band90: "rgba(86, 180, 233, 0.28)",
    up: "#0072B2",
    down: "#E69F00",
    nominal: "#6b6b6b",
  };
  const LEVELS = [80, 90];
  const HOUR_MS = 3600e3;
  const UNIT_MS = { m: 60e3, h: HOUR_MS, d: 24 * HOUR_MS, w: 168 * HOUR_MS };
  const HISTORY_CANDLES = 72; // candles of context before the forecast
  const TRACK_DAYS = 30;
  const query = new URLSearchParams(location.search);
  const POLL_S = Math.max(1, Number(query.get("poll")) || 60);
  // While /api/stream is open, forecasts and scores arrive as events; between candle closes
  // polling is a slow safety net (POLL_S when the stream fails or the next candle is overdue;
  // ?stream=off turns the stream off, as does a service whose schema has no /api/stream).
  const STREAM_POLL_S = Math.max(POLL_S, 900);

  const state = {
    symbol: query.get("symbol") || null,
    interval: query.get("interval") || "1h",
    style: "line",
    caps: null,
    predict: null,
    predictUrl: null,
    history: null,
    chart: null,
    track: { state: "loading" },
    leaderboard: null, // the names of the leaderboard's rows, in rank order
    health: null,
    renders: 0,
    polls: 0,
    nextPollAt: null,
    stream: "off", // off | connecting | open | failed
    streamEvents: 0,
    error: null,
  };
  window.dashboardState = state;
  let sequence = 0; // answers to an older selection are dropped
  let timer = null;
  let source = null; // the EventSource of the current selection

  const $ = (id) => document.getElementById(id);

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (body && (body.message || body.detail)) || response.statusText;
      throw new HttpError(response.status, `${response.status}: ${message}`);
    }
    return body;
  }

  // ---- formatting ------------------------------------------------------------------------

  const priceFormat = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 });
  const fmtPrice = (v) => (Number.isFinite(v) ? priceFormat.format(v) : "–");
  const fmtPct = (v, digits = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : "–");
  const fmtSigned = (v) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(2)}%` : "–");
  const fmtTime = (iso) => (iso ? iso.replace("T", " ").replace("Z", " UTC") : "–");

  function intervalMs(interval) {
    const match = /^(\d+)([mhdw])$/.exec(interval || "");
    return match ? Number(match[1]) * UNIT_MS[match[2]] : HOUR_MS;
  }

  function fillList(id, pairs) {
    const list = $(id);
    list.replaceChildren();
    for (const [label, value, kind] of pairs) {
      const term = document.createElement("dt");
      const detail = document.createElement("dd");
      term.textContent = label;
      detail.textContent = value;
      if (kind) detail.dataset.kind = kind;
      const pair = document.createElement("div");
      pair.append(term, detail);
      list.append(pair);
    }
  }

  // ---- capabilities (from the OpenAPI schema; a missing schema means "probe and cope") -----

  function schemaEnum(schema, spec) {
    if (!schema) return null;
    if (schema.$ref) {
      const name = schema.$ref.split("/").pop();
      return schemaEnum(spec.components?.schemas?.[name], spec);
    }
    if (Array.isArray(schema.enum)) return schema.enum;
    for (const option of schema.anyOf || schema.oneOf || []) {
      const found = schemaEnum(option, spec);
      if (found) return found;
    }
    return null;
  }

  async function capabilities() {
    const caps = {
      intervalParam: false,
      intervals: ["1h"],
      accuracy: true,
      forecasts: true,
      stream: true,
    };
    const spec = await getJson("openapi.json").catch(() => null);
    if (!spec || !spec.paths) return caps;
    const params = spec.paths["/api/predict"]?.get?.parameters || [];
    const interval = params.find((p) => p.name === "interval");
    if (interval) {
      caps.intervalParam = true;
      caps.intervals = schemaEnum(interval.schema, spec) || ["15m", "1h", "4h", "1d"];
    }
    caps.accuracy = "/api/accuracy" in spec.paths;
    caps.forecasts = "/api/forecasts" in spec.paths;
    caps.leaderboard = "/api/leaderboard" in spec.paths;
    caps.stream = "/api/stream" in spec.paths; // older services: poll only, no 404 to log
    return caps;
  }

  // ---- controls ----------------------------------------------------------------------------

  function fillSelect(select, values, labels, chosen) {
    select.replaceChildren();
    values.forEach((value, i) => {
      const option = new Option(labels[i], value, false, value === chosen);
      select.add(option);
    });
  }

  function setupControls(assets) {
    const symbols = assets.map((a) => a.symbol);
    if (!symbols.includes(state.symbol)) state.symbol = symbols[0];
    fillSelect(
      $("asset"),
      symbols,
      assets.map((a) => `${a.symbol} (${a.name})`),
      state.symbol,
    );
    const intervals = state.caps.intervals;
    if (!intervals.includes(state.interval))
      state.interval = intervals.includes("1h") ? "1h" : intervals[0];
    fillSelect($("interval"), intervals, intervals, state.interval);
    $("interval").disabled = intervals.length < 2;
    const note = $("interval-note");
    note.hidden = state.caps.intervalParam;
    note.textContent =
      "This service forecasts hourly candles only (its /api/predict has no interval).";
    $("asset").addEventListener("change", (e) => choose({ symbol: e.target.value }));
    $("interval").addEventListener("change", (e) => choose({ interval: e.target.value }));
    $("style-line").addEventListener("click", () => setStyle("line"));
    $("style-candles").addEventListener("click", () => setStyle("candles"));
    $("refresh").addEventListener("click", () => poll(true));
  }

  function setStyle(style) {
    state.style = style;
    $("style-line").setAttribute("aria-pressed", String(style === "line"));
    $("style-candles").setAttribute("aria-pressed", String(style === "candles"));
    if (state.predict && state.history) renderChart();
  }

  async function choose(change) {
    Object.assign(state, change);
    const url = new URL(location.href);
    url.searchParams.set("symbol", state.symbol);
    url.searchParams.set("interval", state.interval);
    history.replaceState(null, "", url);
    await loadSelection();
  }

  // ---- forecast + history ------------------------------------------------------------------

  function predictUrl() {
    const q = new URLSearchParams({ symbol: state.symbol });
    if (state.caps.intervalParam) q.set("interval", state.interval);
    q.set("levels", LEVELS.join(","));
    return `api/predict?${q}`;
  }

  function historyUrl() {
    const days = Math.ceil((HISTORY_CANDLES * intervalMs(state.interval)) / (24 * HOUR_MS));
    const q = new URLSearchParams({
      symbol: state.symbol,
      days: String(Math.min(90, Math.max(2, days))),
    });
    return `api/history?${q}`;
  }

  async function fetchHistory() {
    // The forecast is still worth showing when the history is not (a stale answer, say).
    try {
      return await getJson(historyUrl());
    } catch (error) {
      return { data: { prices: [] }, error: error.message };
    }
  }

  async function loadSelection() {
    const mine = ++sequence;
    state.predictUrl = predictUrl();
    try {
      const [body, history] = await Promise.all([getJson(state.predictUrl), fetchHistory()]);
      if (mine !== sequence) return;
      showForecast(body, history);
    } catch (error) {
      if (mine !== sequence) return;
      showForecastError(error);
    }
    loadTrack(mine);
    subscribe(mine);
    schedulePoll();
  }

  function showForecast(body, history) {
    state.predict = body;
    state.history = history;
    state.error = null;
    $("forecast-error").hidden = true;
    renderBadges(body);
    renderStats(body);
    renderChart();
    const served = body.interval || "1h";
    if (served !== state.interval) {
      $("chart-note").textContent +=
        ` Asked for ${state.interval}; the service answered ${served}.`;
    }
    state.renders += 1;
    $("updated").textContent =
      `Forecast generated ${fmtTime(body.generatedAt)}; page updated ${fmtTime(new Date().toISOString().slice(0, 19) + "Z")}.`;
  }

  function showForecastError(error) {
    state.error = error.message;
    state.predict = null;
    const box = $("forecast-error");
    box.hidden = false;
    box.textContent = `No forecast for ${state.symbol} (${state.interval}): ${error.message}`;
    $("badges").replaceChildren();
    fillList("stats", []);
    Plotly.purge($("price-chart"));
    state.chart = null;
  }

  function showUpdateError(error) {
    // A failed update keeps the last forecast on screen, saying how old it is.
    if (!state.predict) return showForecastError(error);
    state.error = error.message;
    const box = $("forecast-error");
    box.hidden = false;
    box.textContent = `Update failed (${error.message}); showing the forecast of ${fmtTime(state.predict.generatedAt)}.`;
  }

  function badge(kind, text, tone) {
    const item = document.createElement("li");
    item.className = `badge ${tone}`;
    item.dataset.kind = kind;
    item.textContent = text;
    return item;
  }

  function showUntrained(untrained) {
    $("untrained-banner").hidden = !untrained;
  }

  function renderBadges(body) {
    const p = body.prediction;
    const items = [];
    if (p.trainedWeights === false) {
      items.push(badge("untrained", "Untrained weights: random initialisation, noise", "warn"));
    }
    showUntrained(p.trainedWeights === false || state.health?.model?.trainedWeights === false);
    if (p.model === "fallback") {
      items.push(
        badge(
          "fallback",
          `Fallback forecast (not the model): ${p.fallbackReason || "reason not given"}`,
          "warn",
        ),
      );
    } else {
      items.push(badge("model", `Model: ${p.model} (${shortId(p.modelId)})`, "ok"));
    }
    if (p.calibrated) {
      const how = p.calibration && p.calibration.method ? ` (${p.calibration.method})` : "";
      items.push(badge("calibrated", `Calibrated${how}`, "ok"));
    } else {
      items.push(badge("uncalibrated", "Not calibrated: raw model bands and confidence", "info"));
    }
    if (p.blend) {
      items.push(badge("blend", `served: blend ${fmtWeights(p.blend)}`, "info"));
    } else if (p.blendReason) {
      items.push(badge("unblended", `Not blended: ${p.blendReason}`, "info"));
    }
    if (body.stale) {
      const age = Math.round(body.dataAgeSeconds || 0);
      items.push(
        badge(
          "stale",
          `Stale: market data unavailable, showing the forecast of ${fmtTime(body.generatedAt)} (data ${age} s old)`,
          "warn",
        ),
      );
    }
    if (body.cached) items.push(badge("cached", "From the forecast cache", "info"));
    $("badges").replaceChildren(...items);
  }

  const fmtWeights = (weights) =>
    Object.entries(weights)
      .map(([name, w]) => `${name.replaceAll("_", " ")} ${w.toFixed(2)}`)
      .join(" · ");

  const shortId = (id) => (id || "").split("/").filter(Boolean).pop() || "–";

  function renderStats(body) {
    const p = body.prediction;
    const rawConf = Number.isFinite(p.confidenceRaw) ? ` (raw ${fmtPct(p.confidenceRaw)})` : "";
    const rawUp = Number.isFinite(p.upProbabilityRaw) ? ` (raw ${fmtPct(p.upProbabilityRaw)})` : "";
    fillList("stats", [
      ["Current price", fmtPrice(body.currentPrice), "price"],
      ["24h change", fmtSigned(body.change24h), body.change24h >= 0 ? "up" : "down"],
      ["Trend", p.trend, p.trend],
      ["Confidence", fmtPct(p.confidence) + rawConf, "confidence"],
      ["Up probability", fmtPct(p.upProbability) + rawUp, "upProbability"],
      [`Mean at step ${Math.min(24, p.horizon)}`, fmtPrice(p.price_24h), "price24h"],
      ["Last candle (open)", fmtTime(body.lastCandle), "lastCandle"],
      ["Generated", fmtTime(body.generatedAt), "generatedAt"],
      ["Samples", String(p.samples), "samples"],
    ]);
  }

  // ---- the price chart -----------------------------------------------------------------------

  function bandOf(point, level, bandLevels) {
    const found = (point.intervals || []).find((band) => Math.round(band.level) === level);
    if (found) return [found.low, found.high];
    const [lo, hi] = bandLevels || [0.1, 0.9];
    return Math.round((hi - lo) * 100) === level ? [point.low, point.high] : null;
  }

  function forecastSeries(body) {
    const step = intervalMs(body.interval || "1h");
    const points = body.prediction.predictions;
    // With `openTime` a step's timestamp is its close time; before it, the candle's open time.
    const x = points.map((p) => Date.parse(p.timestamp) + (p.openTime ? 0 : step));
    const series = { x, mean: [], median: [], low80: [], high80: [], low90: [], high90: [] };
    for (const point of points) {
      series.mean.push(point.price);
      series.median.push(point.median);
      for (const level of LEVELS) {
        const band = bandOf(point, level, body.prediction.bandLevels);
        series[`low${level}`].push(band ? band[0] : null);
        series[`high${level}`].push(band ? band[1] : null);
      }
    }
    series.has90 = series.low90.every((v) => v !== null);
    series.has80 = series.low80.every((v) => v !== null);
    return series;
  }

  function anchorOf(body, prices) {
    const t = Date.parse(body.lastCandle) + intervalMs(body.interval || "1h");
    const match = prices.find(([ms]) => ms === t);
    return [t, match ? match[1] : body.currentPrice];
  }

  function candles(prices, step) {
    const width = Math.max(step, HOUR_MS); // history points are hourly at best
    const out = { x: [], open: [], high: [], low: [], close: [] };
    let previous = null;
    for (const [ms, value] of prices) {
      const close = Math.ceil(ms / width) * width;
      const i = out.x.length - 1;
      if (i >= 0 && out.x[i] === close) {
        out.close[i] = value;
        out.high[i] = Math.max(out.high[i], value);
        out.low[i] = Math.min(out.low[i], value);
      } else {
        const open = previous === null ? value : previous;
        out.x.push(close);
        out.open.push(open);
        out.close.push(value);
        out.high.push(Math.max(open, value));
        out.low.push(Math.min(open, value));
      }
      previous = value;
    }
    return out;
  }

  function historyTraces(prices, step) {
    if (state.style === "candles") {
      const c = candles(prices, step);
      return [
        {
          type: "candlestick",
          name: "candles (from closes)",
          x: c.x.map((t) => new Date(t)),
          open: c.open,
          high: c.high,
          low: c.low,
          close: c.close,
          increasing: { line: { color: COLORS.up } },
          decreasing: { line: { color: COLORS.down } },
        },
      ];
    }
    return [
      {
        type: "scatter",
        mode: "lines",
        name: "close",
        x: prices.map(([t]) => new Date(t)),
        y: prices.map(([, v]) => v),
        line: { color: COLORS.history, width: 1.6 },
      },
    ];
  }

  function bandTraces(x, low, high, level, color) {
    const lower = {
      type: "scatter",
      mode: "lines",
      x,
      y: low,
      name: `${level}% band low`,
      line: { width: 0, color },
      showlegend: false,
      legendgroup: `band${level}`,
      hoverinfo: "y+name",
    };
    const upper = {
      type: "scatter",
      mode: "lines",
      x,
      y: high,
      name: `${level}% band`,
      line: { width: 0, color },
      fill: "tonexty",
      fillcolor: color,
      legendgroup: `band${level}`,
    };
    return [lower, upper];
  }

  function forecastTraces(series, anchor) {
    const x = [anchor[0], ...series.x].map((t) => new Date(t));
    const withAnchor = (values) => [anchor[1], ...values];
    const traces = [];
    if (series.has90)
      traces.push(
        ...bandTraces(x, withAnchor(series.low90), withAnchor(series.high90), 90, COLORS.band90),
      );
    if (series.has80)
      traces.push(
        ...bandTraces(x, withAnchor(series.low80), withAnchor(series.high80), 80, COLORS.band80),
      );
    traces.push({
      type: "scatter",
      mode: "lines",
      name: "median forecast",
      x,
      y: withAnchor(series.median),
      line: { color: COLORS.median, width: 2, dash: "dash" },
    });
    traces.push({
      type: "scatter",
      mode: "lines+markers",
      name: "mean forecast",
      x,
      y: withAnchor(series.mean),
      line: { color: COLORS.mean, width: 2.4 },
      marker: { size: 4 },
    });
    return traces;
  }

  function renderChart() {
    const body = state.predict;
    const step = intervalMs(body.interval || "1h");
    const anchor = anchorOf(body, state.history.data.prices);
    const start = anchor[0] - HISTORY_CANDLES * step;
    const prices = state.history.data.prices.filter(([t]) => t >= start && t <= anchor[0]);
    const series = forecastSeries(body);
    const traces = [...historyTraces(prices, step), ...forecastTraces(series, anchor)];
    state.chart = { anchor, series, history: prices, style: state.style, symbol: body.symbol };
    const layout = chartLayout(`${body.symbol} (${body.interval || "1h"})`);
    layout.shapes = [
      {
        type: "line",
        x0: new Date(anchor[0]),
        x1: new Date(anchor[0]),
        yref: "paper",
        y0: 0,
        y1: 1,
        line: { color: COLORS.nominal, width: 1, dash: "dot" },
      },
    ];
    Plotly.react($("price-chart"), traces, layout, plotConfig());
    const bands =
      [series.has80 && "80%", series.has90 && "90%"].filter(Boolean).join(" and ") || "no";
    let note = `Fan: ${bands} bands around the mean (solid) and median (dashed), from the last close.`;
    if (!series.has90) note += " The service sent no 90% band (it needs `levels` support).";
    if (state.style === "candles")
      note += " Candles are built from /api/history's closes (no open/high/low in the API).";
    if (state.history.error) note += ` Price history unavailable (${state.history.error}).`;
    $("chart-note").textContent = note;
  }

  function chartLayout(title) {
    const narrow = window.innerWidth < 600;
    return {
      title: { text: title, font: { size: 15 } },
      margin: { l: narrow ? 44 : 64, r: 12, t: 36, b: 36 },
      legend: { orientation: "h", y: -0.15 },
      xaxis: { type: "date", rangeslider: { visible: false } },
      yaxis: { fixedrange: false },
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      hovermode: "x",
      font: { family: "system-ui, sans-serif" },
    };
  }

  const plotConfig = () => ({
    responsive: true,
    displaylogo: false,
    showLink: false,
    showSendToCloud: false,
    displayModeBar: window.innerWidth >= 600 ? "hover" : false,
  });

  // ---- track record ---------------------------------------------------------------------------

  function trackQuery() {
    const q = new URLSearchParams({ symbol: state.symbol });
    if (state.caps.intervalParam) q.set("interval", state.interval);
    return q;
  }

  function noTrack(reason) {
    state.track = { state: "none", reason };
    $("track-status").textContent = `No track record yet: ${reason}`;
    $("track-status").dataset.kind = "none";
    $("track-body").hidden = true;
  }

  async function loadTrack(mine) {
    if (!state.caps.accuracy)
      return noTrack("this service has no /api/accuracy (no forecast ledger).");
    const q = trackQuery();
    q.set("days", String(TRACK_DAYS));
    let accuracy;
    try {
      accuracy = await getJson(`api/accuracy?${q}`);
    } catch (error) {
      if (mine !== sequence) return;
      return error.status === 404
        ? noTrack("the ledger answers 404 (not there yet).")
        : noTrack(error.message);
    }
    if (mine !== sequence) return;
    if (!accuracy.scored)
      return noTrack(`no scored forecast of ${state.symbol} in the last ${TRACK_DAYS} days.`);
    const forecasts = state.caps.forecasts
      ? await getJson(`api/forecasts?${trackQuery()}`).catch(() => null)
      : null;
    const board = state.caps.leaderboard
      ? await getJson(`api/leaderboard?${q}`).catch(() => null)
      : null;
    if (mine !== sequence) return;
    renderTrack(accuracy, forecasts);
    renderLeaderboard(board);
  }

  function mean(values) {
    const finite = values.filter(Number.isFinite);
    return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN;
  }

  function renderTrack(accuracy, forecasts) {
    const steps = accuracy.steps || [];
    state.track = { state: "shown", accuracy, forecasts };
    $("track-status").textContent =
      `Scheduled forecasts of ${accuracy.symbol} scored from ${fmtTime(accuracy.from)} to ${fmtTime(accuracy.to)}.`;
    $("track-status").dataset.kind = "shown";
    $("track-body").hidden = false;
    const conf = accuracy.confidence || {};
    fillList("track-stats", [
      ["Scored forecasts", String(accuracy.scored), "scored"],
      [
        "80% band coverage",
        `${fmtPct(mean(steps.map((s) => s.coverage80)))} (raw ${fmtPct(mean(steps.map((s) => s.coverage80Raw)))})`,
        "coverage80",
      ],
      [
        "90% band coverage",
        `${fmtPct(mean(steps.map((s) => s.coverage90)))} (raw ${fmtPct(mean(steps.map((s) => s.coverage90Raw)))})`,
        "coverage90",
      ],
      ["CRPS skill vs naive", fmtPct(mean(steps.map((s) => s.crpsSkill))), "crpsSkill"],
      ["Confidence ECE", `${fmtPct(conf.ece)} (raw ${fmtPct(conf.eceRaw)})`, "ece"],
    ]);
    renderCoverage(steps);
    renderSkill(steps, accuracy.bestBaseline);
    renderReliability(conf.buckets || []);
    renderPastForecasts(forecasts);
  }

  function smallLayout(title, x, y) {
    return {
      ...chartLayout(title),
      margin: { l: 56, r: 10, t: 36, b: 96 },
      legend: { orientation: "h", y: -0.38 },
      xaxis: { title: { text: "steps ahead" }, ...x },
      yaxis: y,
    };
  }

  const smallConfig = () => ({ ...plotConfig(), displayModeBar: false });

  function renderCoverage(steps) {
    const hours = steps.map((s) => s.hour);
    const line = (key, name, color, dash) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      x: hours,
      y: steps.map((s) => s[key]),
      line: { color, dash },
      marker: { size: 4 },
    });
    const nominal = (level) => ({
      type: "scatter",
      mode: "lines",
      name: `nominal ${level}%`,
      x: hours,
      y: hours.map(() => level / 100),
      line: { color: COLORS.nominal, dash: "dot", width: 1 },
    });
    const traces = [
      line("coverage80", "80% band", COLORS.mean, "solid"),
      line("coverage90", "90% band", COLORS.median, "solid"),
      line("coverage80Raw", "80% raw", COLORS.mean, "dash"),
      line("coverage90Raw", "90% raw", COLORS.median, "dash"),
      nominal(80),
      nominal(90),
    ];
    Plotly.react(
      $("coverage-chart"),
      traces,
      smallLayout(
        "Band coverage vs nominal",
        {},
        { title: { text: "share inside the band" }, range: [0, 1], tickformat: ".0%" },
      ),
      smallConfig(),
    );
  }

  function renderSkill(steps, best) {
    const skill = steps.map((s) => s.crpsSkill);
    const traces = [
      {
        type: "bar",
        name: "CRPS skill",
        x: steps.map((s) => s.hour),
        y: skill,
        marker: { color: skill.map((v) => (v >= 0 ? COLORS.up : COLORS.down)) },
      },
    ];
    const vsBest = steps.map((s) => s.crpsSkillBestBaseline);
    if (best && vsBest.some(Number.isFinite)) {
      traces.push({
        type: "scatter",
        mode: "lines+markers",
        name: `skill vs ${best.replaceAll("_", " ")}`,
        x: steps.map((s) => s.hour),
        y: vsBest,
        line: { color: COLORS.mean },
        marker: { size: 4 },
      });
    }
    const title = best
      ? `CRPS skill vs naive (bars) and the best baseline, ${best.replaceAll("_", " ")}`
      : "CRPS skill vs naive (above 0: better)";
    Plotly.react(
      $("skill-chart"),
      traces,
      smallLayout(
        title,
        {},
        { title: { text: "1 − CRPS / CRPS baseline" }, tickformat: ".0%", zeroline: true },
      ),
      smallConfig(),
    );
  }

  function renderLeaderboard(board) {
    const rows = (board && board.forecasters) || [];
    $("leaderboard-panel").hidden = rows.length === 0;
    const cell = (tag, text) => {
      const el = document.createElement(tag);
      el.textContent = text;
      return el;
    };
    const num = (v, digits) => (Number.isFinite(v) ? v.toPrecision(digits) : "–");
    $("leaderboard-body").replaceChildren(
      ...rows.map((r) => {
        const tr = document.createElement("tr");
        tr.dataset.name = r.name;
        const name = cell("th", r.name.replaceAll("_", " "));
        name.scope = "row";
        tr.append(
          cell("td", String(r.rank)),
          name,
          cell("td", r.kind),
          cell("td", String(r.n)),
          cell("td", num(r.crps, 4)),
          cell("td", num(r.mae, 4)),
          cell("td", fmtPct(r.coverage80)),
          cell("td", fmtPct(r.directionHit)),
          cell("td", fmtPct(r.crpsSkillBestBaseline)),
        );
        return tr;
      }),
    );
    state.leaderboard = rows.map((r) => r.name);
  }

  function renderReliability(buckets) {
    const used = buckets.filter((b) => b.count > 0);
    const sizes = used.map(
      (b) => 6 + 14 * Math.sqrt(b.count / Math.max(...used.map((u) => u.count))),
    );
    const traces = [
      {
        type: "scatter",
        mode: "lines",
        name: "perfectly reliable",
        x: [0, 1],
        y: [0, 1],
        line: { color: COLORS.nominal, dash: "dot" },
      },
      {
        type: "scatter",
        mode: "markers+lines",
        name: "realised",
        x: used.map((b) => b.stated),
        y: used.map((b) => b.hitRate),
        marker: { size: sizes, color: COLORS.mean },
        text: used.map((b) => `${b.count} forecasts`),
      },
    ];
    Plotly.react(
      $("reliability-chart"),
      traces,
      smallLayout(
        "Confidence: stated vs realised",
        { title: { text: "stated confidence" }, range: [0, 1] },
        { title: { text: "hit rate" }, range: [0, 1] },
      ),
      smallConfig(),
    );
  }

  const pick = (obj, names) => names.map((n) => obj[n]).find((v) => v !== undefined && v !== null);

  function pastForecasts(body) {
    const list = Array.isArray(body)
      ? body
      : pick(body || {}, ["forecasts", "items", "records", "data"]) || [];
    return list.map((f) => ({
      origin: pick(f, ["origin", "lastCandle", "issuedAt"]),
      steps: (pick(f, ["steps", "predictions"]) || []).map((s) => ({
        // when the step's candle closes: /api/forecasts says `closesAt` (`candleOpen` its open)
        t: Date.parse(pick(s, ["closesAt", "timestamp", "time", "closeTime"])),
        mean: pick(s, ["mean", "price"]),
        realised: pick(s, ["realised", "realized", "realisedClose", "realizedClose", "actual"]),
      })),
    }));
  }

  function renderPastForecasts(body) {
    const records = pastForecasts(body).slice(-20);
    const traces = records.map((f, i) => ({
      type: "scatter",
      mode: "lines",
      name: "past mean forecasts",
      legendgroup: "past",
      showlegend: i === 0,
      x: f.steps.map((s) => new Date(s.t)),
      y: f.steps.map((s) => s.mean),
      line: { color: COLORS.mean, width: 1 },
      opacity: 0.5,
    }));
    const realised = new Map();
    records.forEach((f) =>
      f.steps.forEach((s) => Number.isFinite(s.realised) && realised.set(s.t, s.realised)),
    );
    const times = [...realised.keys()].sort((a, b) => a - b);
    traces.push({
      type: "scatter",
      mode: "markers",
      name: "realised close",
      x: times.map((t) => new Date(t)),
      y: times.map((t) => realised.get(t)),
      marker: { color: COLORS.history, size: 4 },
    });
    Plotly.react(
      $("forecasts-chart"),
      traces,
      smallLayout(
        "Past forecasts vs realised",
        { type: "date", title: { text: "" } },
        { title: { text: "price" } },
      ),
      smallConfig(),
    );
  }

  // ---- service state -------------------------------------------------------------------------

  function scalarPairs(prefix, obj) {
    return Object.entries(obj || {})
      .filter(([, v]) => v !== null && typeof v !== "object")
      .map(([k, v]) => [`${prefix} ${k}`, String(v), `${prefix}.${k}`]);
  }

  function renderHealth(health) {
    state.health = health;
    const m = health.model || {};
    showUntrained(m.trainedWeights === false || state.predict?.prediction?.trainedWeights === false);
    const d = health.dataSource || {};
    const ledger = health.ledger ? `ledger ${health.ledger.state || "present"}` : "no ledger";
    const device = m.device ? ` on ${m.device}${m.dtype ? " " + m.dtype : ""}` : "";
    const model =
      m.state === "fallback"
        ? `Model fallback (statistical forecaster; ${shortId(m.modelId)} not serving)`
        : `Model ${m.state || "?"} (${shortId(m.modelId)})${device}`;
    $("service-line").textContent =
      `${model} · data ${d.name || "?"}: ${d.state || "?"} · ${ledger}`;
    const pairs = [
      ["status", health.status, "status"],
      ...scalarPairs("model", m),
      ...scalarPairs("data source", d),
    ];
    if (health.ledger) pairs.push(...scalarPairs("ledger", health.ledger));
    else pairs.push(["ledger", "not reported by /health", "ledger"]);
    fillList("service", pairs);
  }

  async function loadHealth() {
    try {
      renderHealth(await getJson("health"));
    } catch (error) {
      $("service-line").textContent = `Service unreachable: ${error.message}`;
    }
  }

  // ---- updates: poll at the next candle close, or every POLL_S seconds -----------------------

  function subscribe(mine) {
    if (source) source.close();
    source = null;
    state.stream = "off";
    if (!window.EventSource || !state.caps.stream || query.get("stream") === "off") return;
    const q = new URLSearchParams({ symbols: state.symbol, intervals: state.interval });
    const events = new EventSource(`api/stream?${q}`);
    source = events;
    state.stream = "connecting";
    events.addEventListener("info", () => {
      state.stream = "open";
      schedulePoll();
    });
    events.addEventListener("forecast", () => {
      state.streamEvents += 1;
      if (mine === sequence) poll(false); // the scheduled forecast is in the cache now
    });
    events.addEventListener("score", () => {
      state.streamEvents += 1;
      if (mine === sequence) loadTrack(mine);
    });
    events.onerror = () => {
      // reconnecting (CONNECTING) or given up (CLOSED: 429, 503, no ledger): poll meanwhile
      state.stream = events.readyState === EventSource.CLOSED ? "failed" : "connecting";
      schedulePoll();
    };
  }

  function schedulePoll() {
    clearTimeout(timer);
    let wait = (state.stream === "open" ? STREAM_POLL_S : POLL_S) * 1000;
    const body = state.predict;
    if (body) {
      // the next candle is due at its close: poll then; once it is overdue (market data behind,
      // upstream down) the stream has nothing to say, so poll every POLL_S until it shows
      const nextClose = Date.parse(body.lastCandle) + 2 * intervalMs(body.interval || "1h") + 5000;
      const until = nextClose - Date.now();
      wait = until > 0 ? Math.min(wait, until) : POLL_S * 1000;
    }
    state.nextPollAt = new Date(Date.now() + wait).toISOString();
    timer = setTimeout(() => poll(false), wait);
  }

  function isNewForecast(body) {
    const old = state.predict;
    return (
      !old ||
      old.generatedAt !== body.generatedAt ||
      old.lastCandle !== body.lastCandle ||
      old.stale !== body.stale
    );
  }

  async function poll(force) {
    state.polls += 1;
    const mine = sequence;
    loadHealth();
    try {
      const body = await getJson(predictUrl());
      if (mine !== sequence) return;
      state.error = null;
      $("forecast-error").hidden = true;
      if (force || isNewForecast(body)) {
        const history = await fetchHistory();
        if (mine !== sequence) return;
        const newCandle = !state.predict || state.predict.lastCandle !== body.lastCandle;
        showForecast(body, history);
        if (newCandle || force) loadTrack(mine);
      }
    } catch (error) {
      if (mine === sequence) showUpdateError(error);
    }
    if (mine === sequence) schedulePoll();
  }

  async function start() {
    loadHealth();
    state.caps = await capabilities();
    try {
      const assets = await getJson("api/assets");
      // the intervals this service's market data can serve (older services: the schema's)
      if (state.caps.intervalParam && Array.isArray(assets.intervals) && assets.intervals.length)
        state.caps.intervals = assets.intervals;
      setupControls(assets.assets.filter((a) => a.supported !== false));
    } catch (error) {
      showForecastError(error);
      return;
    }
    await loadSelection();
    loadHealth(); // the data source's state after the first forecast's fetch
  }

  start();
})();
