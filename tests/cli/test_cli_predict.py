"""`kronos-forecast predict` and `init-checkpoint` on the tiny checkpoint: files source, CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data_sources.candle_files import read_candle_file


def test_predict_from_the_files_source_table(env, run_cli) -> None:
    code, out, err = run_cli("predict", "--symbol", "BTC", "--horizon", "3", "--seed", "7")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("BTC (1h, from files")
    assert "median" in lines[2] and "90%" in lines[2]
    steps = [line.split()[0] for line in lines[3:6]]
    assert steps == ["1", "2", "3"]
    assert lines[-1].startswith("trend ")
    assert "untrained" not in out


def test_predict_json_matches_its_candles(env, run_json, ohlcv_dir: Path) -> None:
    result = run_json("predict", "--symbol", "btc", "--horizon", "4", "--seed", "7")
    last = read_candle_file(ohlcv_dir / "BTC_1h.csv").iloc[-1]
    assert result["symbol"] == "BTC" and result["trainedWeights"] is True
    assert result["lastClose"] == last["close"]
    assert [s["step"] for s in result["steps"]] == [1, 2, 3, 4]
    first_close = pd.Timestamp(result["steps"][0]["closesAt"])
    assert first_close == last["timestamp"] + pd.Timedelta(hours=2)  # the next candle's close
    for step in result["steps"]:
        assert step["low"] <= step["median"] <= step["high"]
    assert result == run_json("predict", "--symbol", "BTC", "--horizon", "4", "--seed", "7")


def test_predict_from_a_csv_file(env, run_json, ohlcv_dir: Path, tmp_path: Path) -> None:
    candles = read_candle_file(ohlcv_dir / "ETH_1h.csv").iloc[-80:]
    path = tmp_path / "mine.csv"
    candles[["timestamp", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    result = run_json("predict", "--csv", str(path), "--horizon", "2", "--seed", "1")
    assert result["source"] == str(path) and result["symbol"] is None
    assert result["interval"] == "3600s" and result["lastClose"] == candles["close"].iloc[-1]
    assert len(result["steps"]) == 2


def test_a_bad_csv_is_one_line_and_exit_2(env, run_cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,price\n2024-01-01,1\n")
    code, out, err = run_cli("predict", "--csv", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("kronos-forecast: error: bad CSV")
    assert "timestamp,open,high,low,close" in err


def test_init_checkpoint_then_predict_says_untrained(env, run_cli, run_json, tmp_path) -> None:
    made = run_json("init-checkpoint", "--size", "mini", "--out", str(tmp_path / "ckpt"))
    assert made["trainedWeights"] is False
    env.setenv("KRONOS_MODEL", made["model"])
    env.setenv("KRONOS_TOKENIZER", made["tokenizer"])
    result = run_json("predict", "--symbol", "BTC", "--horizon", "1", "--samples", "2")
    assert result["trainedWeights"] is False
    code, out, _ = run_cli("predict", "--symbol", "BTC", "--horizon", "1", "--samples", "2")
    assert code == 0 and "WARNING: untrained (random) weights" in out
