//! The zero-downtime benchmark on a tiny budget, against the real engine:
//! it must count its requests and lose none.

mod common;

#[test]
fn zero_downtime_bench_on_a_tiny_budget_loses_nothing() {
    common::images();
    let out = common::ok(&[
        "--quiet",
        "bench",
        "zero-downtime",
        "--cycles",
        "1",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("bench json");
    let z = &report["zero_downtime"];
    let sent = z["sent"].as_u64().unwrap();
    let ok = z["ok"].as_u64().unwrap();
    assert!(sent > 100, "too few requests to tell: {z}");
    assert_eq!(z["non_2xx"], 0, "{z}");
    assert_eq!(z["connection_errors"], 0, "{z}");
    assert_eq!(ok, sent, "{z}");
    assert!(z["latency"]["p50"].as_f64().unwrap() > 0.0, "{z}");
}
