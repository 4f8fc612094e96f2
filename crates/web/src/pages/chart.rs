//! Charts drawn as inline SVG on the server: no script, no image request,
//! readable by screen readers through the table each chart sits beside
//! and its own title.

use std::fmt::Write;

/// One bar: its label, its value and the value as the reader writes it.
pub(crate) struct Bar {
    pub label: String,
    pub value: u64,
    pub text: String,
}

/// Horizontal bars, longest first as given; mirrored for right-to-left pages.
pub(crate) struct BarChart {
    pub title: String,
    pub bars: Vec<Bar>,
    pub rtl: bool,
}

const WIDTH: f64 = 600.0;
const ROW: f64 = 28.0;
const LABEL: f64 = 200.0;
const FIGURE: f64 = 90.0;
/// Room between a label and the chart's edge: Nastaliq's strokes reach past a word's start.
const EDGE: f64 = 8.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl BarChart {
    /// The chart as SVG markup, its text escaped.
    pub fn svg(&self) -> String {
        let max = self.bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
        let height = ROW * self.bars.len().max(1) as f64 + 8.0;
        let room = WIDTH - LABEL - FIGURE;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" direction="{}" role="img" aria-label="{}"><title>{}</title>"#,
            if self.rtl { "rtl" } else { "ltr" },
            escape(&self.title),
            escape(&self.title)
        );
        for (i, b) in self.bars.iter().enumerate() {
            let y = 4.0 + ROW * i as f64;
            let len = (b.value as f64 / max * room).max(if b.value > 0 { 2.0 } else { 0.0 });
            // Left to right: label | bar → figure. Right to left: the mirror
            // image. Text runs from its anchor in the page's direction (a
            // right-to-left page's `start` is the right), so `start` both ways.
            let (label_x, bar_x, fig_x) = if self.rtl {
                (WIDTH - EDGE, WIDTH - LABEL - len, WIDTH - LABEL - len - 6.0)
            } else {
                (EDGE, LABEL, LABEL + len + 6.0)
            };
            let _ = write!(
                out,
                r#"<text x="{label_x}" y="{ty}">{label}</text><rect class="bar" x="{bar_x:.1}" y="{y}" width="{len:.1}" height="{h}"/><text x="{fig_x:.1}" y="{ty}">{text}</text>"#,
                ty = y + ROW * 0.62,
                h = ROW - 8.0,
                label = escape(&b.label),
                text = escape(&b.text),
            );
        }
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_their_text() {
        let chart = BarChart {
            title: "By <district>".into(),
            bars: vec![
                Bar {
                    label: "A & B".into(),
                    value: 10,
                    text: "10".into(),
                },
                Bar {
                    label: "C".into(),
                    value: 5,
                    text: "5".into(),
                },
            ],
            rtl: false,
        };
        let svg = chart.svg();
        assert!(svg.contains("By &lt;district&gt;") && svg.contains("A &amp; B"));
        assert!(
            svg.contains(r#"width="310.0""#) && svg.contains(r#"width="155.0""#),
            "{svg}"
        );
        let rtl = BarChart { rtl: true, ..chart }.svg();
        // Mirrored: bars grow leftwards from the labels on the right, and
        // text runs right to left from its anchor, not over the bars.
        assert!(
            rtl.contains(r#"direction="rtl""#) && !rtl.contains("text-anchor"),
            "{rtl}"
        );
        assert!(
            rtl.contains(r#"<text x="592" "#) && rtl.contains(r#"<rect class="bar" x="90.0""#),
            "{rtl}"
        );
    }
}
