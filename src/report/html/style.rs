//! The stylesheet of report.html, inline (the page loads nothing). Status colours are classes
//! (`st-MATCH`...) rather than inline styles, so that the search script can colour the rows it
//! shows the same way. Print: the verdict, the rows needing attention and the run's facts print,
//! with every photo table unfolded; the search does not.

use std::fmt::Write as _;

use super::colour;
use crate::model::RowStatus;

const BASE: &str = "\
:root{color-scheme:light}\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:24px;color:#1b1b1b;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:3px}\
h3{font-size:14px;margin:16px 0 6px}\
nav{margin:6px 0 14px}nav a{margin-right:14px}\
table{border-collapse:collapse;margin:6px 0}\
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}\
thead th{background:#f2f2f2;position:sticky;top:0}\
table.facts th{background:#f7f7f7;white-space:nowrap;font-weight:600}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
code,.m{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}\
.h{user-select:all;word-break:break-all}\
.id{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;overflow-wrap:break-word}\
.msg{white-space:pre-wrap;overflow-wrap:anywhere}\
.st{display:inline-block;color:#fff;font-weight:700;font-size:12px;padding:1px 6px;border-radius:3px;white-space:nowrap;background:#616161}\
.no{color:#b00020;font-weight:700}.muted{color:#666}\
.side{display:flex;flex-wrap:wrap;gap:12px 40px;align-items:flex-start}.side>*{margin-top:0}\
table.rows{width:100%;table-layout:fixed}table.rows>tbody{border-top:2px solid #bbb}\
table.rows>thead th:nth-child(1){width:4%}table.rows>thead th:nth-child(2){width:8%}\
table.rows>thead th:nth-child(3){width:15%}table.rows>thead th:nth-child(4){width:9%}\
table.rows>thead th:nth-child(5){width:8%}table.rows>thead th:nth-child(6){width:7%}\
table.rows>thead th:nth-child(7){width:9%}table.rows>thead th:nth-child(8){width:5.5%}\
table.rows>thead th:nth-child(9){width:6.5%}table.rows>thead th:nth-child(10){width:6%}\
table.rows>*>tr>td,table.rows>thead th{overflow-wrap:anywhere}\
.chunk{content-visibility:auto;contain-intrinsic-size:auto 8000px}\
tr.ph>td{padding:0 6px 4px 28px;border-top:none;background:#fafafa}\
details>summary{cursor:pointer;color:#1a4f8a;padding:2px 0}details.settings>summary{font-weight:600}\
table.img{margin:2px 0 6px;background:#fff;overflow-wrap:normal}table.img td,table.img th{font-size:12px}\
.help{background:#f4f8fc;border:1px solid #c9d9ea;padding:6px 10px;max-width:70em}\
.verdict{border:1px solid #ccc;border-left:8px solid #2e7d32;padding:8px 14px;margin:10px 0;max-width:80em}\
.verdict.warn{border-left-color:#ef6c00}.verdict.bad{border-left-color:#b00020}\
.verdict p{margin:4px 0}.verdict .headline{font-size:18px;font-weight:700}\
.counts{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:6px 18px}\
.cap{font-weight:600}\
#kx-find label{margin-right:18px}#kx-q{width:32em;max-width:90%;font:inherit;padding:3px 6px}\
#kx-out{font-weight:600}.printonly{display:none}\
@media print{\
@page{size:A4 landscape;margin:10mm}\
body{margin:0;font-size:10px}nav,.noprint,#find,#kx-find{display:none}.printonly{display:block}\
.chunk{content-visibility:visible}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
thead th{position:static}\
h2,h3{break-after:avoid}tr,table.rows>tbody,svg,.side>div,.verdict,table.facts,table.req{break-inside:avoid}\
a{color:inherit;text-decoration:none}\
details::details-content{content-visibility:visible;display:block}\
details>summary{color:#000}\
code,.m,.id,table.img td,table.img th{font-size:9px}.h{white-space:nowrap;word-break:normal}\
}";

/// The whole stylesheet.
pub(crate) fn sheet() -> String {
    let mut s = String::from(BASE);
    for status in RowStatus::ALL {
        let _ = write!(s, ".st-{status}{{background:{}}}", colour(status));
    }
    s
}
