//! The scaling-under-load runs drawn as a PNG: requests per second for each
//! kind of client, failures, p99 latency, and the servers in rotation over
//! time, with the scale steps marked. Drawn with plotters as SVG, rendered
//! to PNG by resvg with the machine's fonts.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;

use super::load::LoadRun;
use super::stats::percentile;
use super::under_load::Churn;

/// One second of a load run.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// Answered requests per kind of client (kept-alive, one per connection,
    /// pausing).
    pub ok: [u64; 3],
    /// Requests that failed, every kind.
    pub failed: u64,
    /// 99th percentile of the answered requests' latency, ms (NaN when
    /// none).
    pub p99_ms: f64,
}

/// The run cut into seconds (by when each request ended).
pub fn per_second(load: &LoadRun) -> Vec<Second> {
    let kinds = load.kinds();
    let end = kinds
        .iter()
        .flat_map(|(_, r)| r.timeline.iter().map(|s| s.at.as_secs()))
        .max()
        .map_or(0, |s| s + 1) as usize;
    let mut seconds = vec![
        Second {
            ok: [0; 3],
            failed: 0,
            p99_ms: f64::NAN,
        };
        end
    ];
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); end];
    for (k, (_, report)) in kinds.iter().enumerate() {
        for s in &report.timeline {
            let i = s.at.as_secs() as usize;
            if s.ok {
                seconds[i].ok[k] += 1;
                latencies[i].push(s.took.as_secs_f64() * 1000.0);
            } else {
                seconds[i].failed += 1;
            }
        }
    }
    for (second, mut l) in seconds.iter_mut().zip(latencies) {
        l.sort_by(f64::total_cmp);
        second.p99_ms = percentile(&l, 99.0);
    }
    seconds
}

const KIND_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];
const FAILED: RGBColor = RGBColor(214, 39, 40);
const EVENT: RGBColor = RGBColor(255, 127, 14);
const FONT: &str = "sans-serif";

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// The chart as SVG.
pub fn svg(title: &str, churn: &Churn) -> Result<String> {
    let seconds = per_second(&churn.load);
    let t_end = (seconds.len().max(1) as f64)
        .max(churn.rotation.last().map_or(0.0, |(t, _)| t.as_secs_f64()));
    let max_rps = seconds
        .iter()
        .map(|s| s.ok.iter().copied().max().unwrap_or(0).max(s.failed))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_p99 = seconds
        .iter()
        .map(|s| s.p99_ms)
        .filter(|p| p.is_finite())
        .fold(1.0, f64::max);
    let max_servers = churn
        .rotation
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1200, 960)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, (FONT, 24)).map_err(plot_err)?;
        let panels = root.split_evenly((3, 1));
        let events = |top: f64| {
            churn.events.iter().map(move |(t, _)| {
                PathElement::new(
                    vec![(t.as_secs_f64(), 0.0), (t.as_secs_f64(), top)],
                    EVENT.stroke_width(1),
                )
            })
        };

        let mut rps = ChartBuilder::on(&panels[0])
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .caption(
                "answered requests per second, by client (failed in red)",
                (FONT, 18),
            )
            .build_cartesian_2d(0.0..t_end, 0.0..max_rps * 1.15)
            .map_err(plot_err)?;
        rps.configure_mesh()
            .x_desc("seconds")
            .y_desc("requests / s")
            .draw()
            .map_err(plot_err)?;
        rps.draw_series(events(max_rps * 1.15)).map_err(plot_err)?;
        for (k, (name, _)) in churn.load.kinds().iter().enumerate() {
            let color = KIND_COLORS[k];
            rps.draw_series(LineSeries::new(
                seconds
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i as f64 + 0.5, s.ok[k] as f64)),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        rps.draw_series(LineSeries::new(
            seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64 + 0.5, s.failed as f64)),
            FAILED.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label("failed")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], FAILED.stroke_width(2)));
        rps.draw_series(churn.events.iter().enumerate().map(|(i, (t, label))| {
            // Staggered, so that close steps stay readable.
            let height = [1.12, 1.06, 1.0][i % 3];
            Text::new(
                format!(" {label}"),
                (t.as_secs_f64(), max_rps * height),
                (FONT, 13).into_font().color(&BLACK),
            )
        }))
        .map_err(plot_err)?;
        rps.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_err)?;

        let mut latency = ChartBuilder::on(&panels[1])
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .caption("p99 latency of answered requests, every client", (FONT, 18))
            .build_cartesian_2d(0.0..t_end, 0.0..max_p99 * 1.1)
            .map_err(plot_err)?;
        latency
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("ms")
            .draw()
            .map_err(plot_err)?;
        latency
            .draw_series(events(max_p99 * 1.1))
            .map_err(plot_err)?;
        latency
            .draw_series(LineSeries::new(
                seconds
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.p99_ms.is_finite())
                    .map(|(i, s)| (i as f64 + 0.5, s.p99_ms)),
                BLACK.stroke_width(2),
            ))
            .map_err(plot_err)?;

        let mut servers = ChartBuilder::on(&panels[2])
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .caption("servers in rotation (UP in HAProxy)", (FONT, 18))
            .build_cartesian_2d(0.0..t_end, 0.0..max_servers * 1.1)
            .map_err(plot_err)?;
        servers
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("servers")
            .draw()
            .map_err(plot_err)?;
        servers
            .draw_series(events(max_servers * 1.1))
            .map_err(plot_err)?;
        servers
            .draw_series(LineSeries::new(
                step_points(&churn.rotation),
                KIND_COLORS[0].stroke_width(2),
            ))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// A sampled count drawn as steps: it holds until the next sample.
fn step_points(samples: &[(Duration, usize)]) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(samples.len() * 2);
    for (i, (t, n)) in samples.iter().enumerate() {
        if i > 0 {
            points.push((t.as_secs_f64(), samples[i - 1].1 as f64));
        }
        points.push((t.as_secs_f64(), *n as f64));
    }
    points
}

/// Renders SVG to PNG with the machine's fonts.
pub fn png(svg: &str) -> Result<Vec<u8>> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    if let Ok(font) = std::env::var("LABCTL_FONT") {
        options
            .fontdb_mut()
            .load_font_file(&font)
            .with_context(|| format!("loading the font LABCTL_FONT=`{font}`"))?;
    }
    // The chart asks for the generic sans-serif family: the first common
    // sans font the machine has, else any font it has.
    let db = options.fontdb_mut();
    let families: Vec<String> = db
        .faces()
        .filter_map(|f| f.families.first().map(|(name, _)| name.clone()))
        .collect();
    let Some(family) = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans"]
        .iter()
        .map(ToString::to_string)
        .find(|f| families.contains(f))
        .or_else(|| families.first().cloned())
    else {
        bail!(
            "no font found to write the chart's text: install one (`apt-get install \
             fonts-dejavu-core`) or name a TrueType file with LABCTL_FONT"
        );
    };
    db.set_sans_serif_family(family);
    let tree = resvg::usvg::Tree::from_str(svg, &options).context("reading the chart's SVG")?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .context("the chart has no size")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("encoding the chart as PNG")
}

/// Draws `churn` into a PNG file.
pub fn write(path: &Path, title: &str, churn: &Churn) -> Result<()> {
    let png = png(&svg(title, churn)?)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    std::fs::write(path, png).with_context(|| format!("writing `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::load::Outcome;

    fn run() -> Churn {
        let ms = Duration::from_millis;
        let mut load = LoadRun::default();
        for i in 0..30u64 {
            load.keep_alive
                .record(Outcome::Ok, ms(i * 100), ms(1 + i % 3), String::new);
            load.close
                .record(Outcome::Ok, ms(i * 100 + 50), ms(4), String::new);
        }
        load.idle
            .record(Outcome::ConnectionError, ms(2500), ms(9), || "reset".into());
        load.idle.record(Outcome::Ok, ms(2600), ms(30), String::new);
        Churn {
            load,
            reloads: 0,
            workers_started: 0,
            events: vec![(ms(500), "6".into()), (ms(2000), "2".into())],
            rotation: vec![(ms(0), 2), (ms(1000), 6), (ms(2500), 2)],
        }
    }

    #[test]
    fn requests_are_counted_in_the_second_they_ended() {
        let s = per_second(&run().load);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].ok, [10, 10, 0]);
        assert_eq!(s[2].ok, [10, 10, 1]);
        assert_eq!(s[2].failed, 1);
        assert_eq!(s[0].failed, 0);
        // p99 of the answered ones only (the failed request took 9 ms).
        assert_eq!(s[2].p99_ms, 30.0);
        assert_eq!(s[1].p99_ms, 4.0);
    }

    #[test]
    fn counts_hold_until_the_next_sample() {
        let ms = Duration::from_millis;
        assert_eq!(
            step_points(&[(ms(0), 2), (ms(1000), 6)]),
            [(0.0, 2.0), (1.0, 2.0), (1.0, 6.0)]
        );
    }

    #[test]
    fn the_chart_is_a_real_png_with_text_and_series() {
        let svg = svg("zero downtime", &run()).unwrap();
        assert!(svg.contains("zero downtime"), "title");
        assert!(svg.contains("kept-alive, pausing"), "legend");
        let bytes = png(&svg).unwrap();
        if let Ok(path) = std::env::var("LABCTL_TEST_CHART") {
            std::fs::write(path, &bytes).unwrap();
        }
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (1200, 960));
        // Each series' colour is drawn, and text (black) too.
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(4).collect();
        let has = |c: RGBColor| {
            pixels
                .iter()
                .any(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
        };
        for c in KIND_COLORS.iter().chain([&FAILED]) {
            assert!(has(*c), "colour {c:?} drawn");
        }
        let dark = pixels
            .iter()
            .filter(|p| p[0] < 60 && p[1] < 60 && p[2] < 60)
            .count();
        assert!(dark > 2000, "text and axes drawn: {dark} dark pixels");
    }
}
