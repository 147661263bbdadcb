//! The report's pictures, as inline SVG: shares with their intervals as bars and whiskers, and
//! a target's connections as a ladder of packets between client and server.

use std::fmt::Write;

use super::escape::escape;

/// One bar: a label, a share in [0, 1], its interval.
pub struct Bar<'a> {
    pub label: &'a str,
    pub count: u64,
    pub share: f64,
    pub low: f64,
    pub high: f64,
}

/// Horizontal bars of shares (0 to the largest interval's end, rounded up), each with its 95 %
/// interval as a whisker and its count and share written beside it.
pub fn share_bars(title: &str, valid: u64, bars: &[Bar<'_>]) -> String {
    let (label_w, plot_w, row_h) = (210.0, 420.0, 22.0);
    let height = 34.0 + row_h * bars.len() as f64 + 24.0;
    let top = bars.iter().map(|b| b.high).fold(0.0f64, f64::max);
    // The axis ends at a round share above every whisker: 1 %, 2 %, 5 %, 10 %, ... 100 %.
    let end = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0].into_iter().find(|e| *e >= top).unwrap_or(1.0);
    let x = |share: f64| label_w + plot_w * (share / end);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {w} {height}" width="{w}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>"#,
        w = label_w + plot_w + 210.0,
        title = escape(title)
    );
    let _ = write!(s, r#"<text x="0" y="16" class="h">{} ({valid} valid targets)</text>"#, escape(title));
    for (i, b) in bars.iter().enumerate() {
        let y = 34.0 + row_h * i as f64;
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end">{label}</text><rect x="{x0}" y="{y}" width="{w:.1}" height="14" class="bar"/><line x1="{l:.1}" x2="{h:.1}" y1="{m}" y2="{m}" class="ci"/><line x1="{l:.1}" x2="{l:.1}" y1="{a}" y2="{b2}" class="ci"/><line x1="{h:.1}" x2="{h:.1}" y1="{a}" y2="{b2}" class="ci"/><text x="{tx}" y="{ty}">{count} ({pct:.1} %, {lo:.1}–{hi:.1})</text>"#,
            lx = label_w - 8.0,
            ty = y + 11.0,
            label = escape(b.label),
            x0 = label_w,
            w = x(b.share) - label_w,
            l = x(b.low),
            h = x(b.high),
            m = y + 7.0,
            a = y + 2.0,
            b2 = y + 12.0,
            tx = label_w + plot_w + 8.0,
            count = b.count,
            pct = b.share * 100.0,
            lo = b.low * 100.0,
            hi = b.high * 100.0,
        );
    }
    let axis_y = 34.0 + row_h * bars.len() as f64 + 4.0;
    let _ = write!(
        s,
        r#"<line x1="{label_w}" x2="{r}" y1="{axis_y}" y2="{axis_y}" class="axis"/><text x="{label_w}" y="{t}">0 %</text><text x="{r}" y="{t}" text-anchor="end">{e} %</text></svg>"#,
        r = label_w + plot_w,
        t = axis_y + 14.0,
        e = end * 100.0
    );
    s
}

/// One connection of a target, as its ladder draws it.
pub struct Rung<'a> {
    pub what: &'a str,
    pub syn: String,
    pub resent: bool,
    /// The answer and its time after the first SYN, if any.
    pub answer: Option<(String, Option<f64>)>,
    pub outcome: &'a str,
}

/// A target's connections in time order between a client line and a server line: each a SYN
/// across, a resend where there was one, and the answer back (or none).
pub fn ladder(title: &str, rungs: &[Rung<'_>]) -> String {
    let (left, right, rung_h) = (170.0, 560.0, 64.0);
    let height = 40.0 + rung_h * rungs.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="ladder" role="img" viewBox="0 0 760 {height}" width="760" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><text x="{left}" y="14" text-anchor="middle" class="h">client</text><text x="{right}" y="14" text-anchor="middle" class="h">server</text><line x1="{left}" x2="{left}" y1="20" y2="{height}" class="axis"/><line x1="{right}" x2="{right}" y1="20" y2="{height}" class="axis"/>"#,
        t = escape(title)
    );
    for (i, r) in rungs.iter().enumerate() {
        let y = 34.0 + rung_h * i as f64;
        let _ =
            write!(s, r#"<text x="4" y="{ty}" class="what">{w}</text>"#, ty = y + 10.0, w = escape(r.what));
        let _ = write!(
            s,
            r#"<line x1="{left}" x2="{right}" y1="{y}" y2="{y2}" class="pkt syn"/><text x="{mx}" y="{ly}" text-anchor="middle">{syn}</text>"#,
            y2 = y + 8.0,
            mx = (left + right) / 2.0,
            ly = y - 1.0,
            syn = escape(&r.syn)
        );
        if r.resent {
            let _ = write!(
                s,
                r#"<line x1="{left}" x2="{right}" y1="{a}" y2="{b}" class="pkt resend"/><text x="{mx}" y="{ly}" text-anchor="middle" class="small">resent without option or data</text>"#,
                a = y + 16.0,
                b = y + 24.0,
                mx = (left + right) / 2.0,
                ly = y + 15.0
            );
        }
        match &r.answer {
            Some((answer, ms)) => {
                let at = ms.map_or(String::new(), |ms| {
                    if ms < 10.0 {
                        format!(" +{ms:.1} ms")
                    } else {
                        format!(" +{ms:.0} ms")
                    }
                });
                let _ = write!(
                    s,
                    r#"<line x1="{right}" x2="{left}" y1="{a}" y2="{b}" class="pkt answer"/><text x="{mx}" y="{ly}" text-anchor="middle">{ans}{at}</text>"#,
                    a = y + 40.0,
                    b = y + 48.0,
                    mx = (left + right) / 2.0,
                    ly = y + 39.0,
                    ans = escape(answer)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<text x="{right}" y="{ly}" text-anchor="middle" class="none">no answer</text>"#,
                    ly = y + 44.0
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{x}" y="{ty}" class="small">{o}</text>"#,
            x = right + 10.0,
            ty = y + 10.0,
            o = escape(r.outcome)
        );
    }
    s.push_str("</svg>");
    s
}
