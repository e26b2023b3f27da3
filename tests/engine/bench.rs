//! The zero-downtime benchmark on a tiny budget, against the real engine:
//! it must count every request of every kind of client, lose none, reload
//! HAProxy never, and draw its chart.

#[test]
fn zero_downtime_bench_on_a_tiny_budget_loses_nothing() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    crate::common::images();
    let charts = std::env::temp_dir().join(format!("labctl-bench-charts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&charts);
    let out = crate::common::ok(&[
        "--quiet",
        "bench",
        "zero-downtime",
        "--cycles",
        "1",
        "--format",
        "json",
        "--charts",
        charts.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("bench json");
    let z = &report["zero_downtime"];
    for kind in ["keep_alive", "close", "idle"] {
        let r = &z["load"][kind];
        let sent = r["sent"].as_u64().unwrap();
        assert!(sent > 20, "too few {kind} requests to tell: {r}");
        assert_eq!(r["non_2xx"], 0, "{kind}: {r}");
        assert_eq!(r["connection_errors"], 0, "{kind}: {r}");
        assert_eq!(r["ok"].as_u64().unwrap(), sent, "{kind}: {r}");
        assert!(r["latency"]["p50"].as_f64().unwrap() > 0.0, "{kind}: {r}");
    }
    assert_eq!(z["reloads"], 0, "{z}");
    assert_eq!(z["workers_started"], 0, "{z}");
    let png = std::fs::read(charts.join("logs/bench/zero-downtime.png")).expect("the chart");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(
        png.len() > 20_000,
        "a chart, not an empty image: {} bytes",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&charts);
}
