"use strict";
// audit.html's search: the documents are in #kx-docs as JSON, parsed on the first search.
// Every value is shown with textContent: nothing from the data becomes markup.
(function () {
  var box = document.getElementById("kx-find");
  var q = document.getElementById("kx-q");
  var st = document.getElementById("kx-st");
  var out = document.getElementById("kx-out");
  var res = document.getElementById("kx-res");
  var docs = null;
  var LIMIT = 50;
  box.hidden = false;
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(tr, cells) {
    cells.forEach(function (c) { tr.appendChild(typeof c === "object" && c !== null ? c : el("td", c)); });
    return tr;
  }
  function badge(s) {
    var td = el("td");
    td.appendChild(el("span", s, "st st-" + s));
    return td;
  }
  function show(d, i) {
    // d: [aju, bl, tanggal, kantor, folder, status, history]
    var sec = el("section", null, "doc");
    sec.id = "doc-" + i;
    var h = el("h3");
    h.appendChild(el("span", d[5], "st st-" + d[5]));
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", d[0], "id"));
    sec.appendChild(h);
    sec.appendChild(el("p", "BL/AWB " + d[1] + " · tanggalBlAwb " + d[2] + " · kodeKantor " + d[3] + " · folder " + d[4], "muted"));
    var t = el("table");
    row(t.appendChild(el("tr")), ["run", "command", "run started", "row", "status", "action", "sent / local", "server", "tries / requests", "message"].map(function (x) { return el("th", x); }));
    d[6].forEach(function (r) {
      // r: [run, command, started, row, status, action, local, uploaded, server, attempts, requests, message, finished, missing, extra, photos]
      var msg = r[11];
      if (r[13].length) msg += " · missing on server: " + r[13].join(", ");
      if (r[14].length) msg += " · only on server: " + r[14].join(", ");
      row(t.appendChild(el("tr")), [r[0], r[1], r[2], r[3], badge(r[4]), r[5], r[7] + " / " + r[6], r[8] === null ? "?" : r[8], r[9] + " / " + r[10], el("td", msg, "msg")]);
      if (r[15].length) {
        var td = el("td");
        td.colSpan = 10;
        var pt = el("table", null, "img");
        row(pt.appendChild(el("tr")), ["photo", "bytes", "sha256", "type", "sent in", "sent at", "on server", "waktuRekam"].map(function (x) { return el("th", x); }));
        r[15].forEach(function (p) {
          var on = p[6] === null ? "?" : (p[6] ? "yes" : "no");
          var h = el("td");
          h.appendChild(el("code", p[2], "h"));
          row(pt.appendChild(el("tr")), [el("td", p[0], "id"), p[1], h, p[3], p[4], p[5] || "", on, p[7] || ""]);
        });
        td.appendChild(pt);
        t.appendChild(el("tr")).appendChild(td);
      }
    });
    sec.appendChild(t);
    return sec;
  }
  function search() {
    if (docs === null) docs = JSON.parse(document.getElementById("kx-docs").textContent);
    var text = q.value.trim().toLowerCase();
    var want = st.value;
    res.textContent = "";
    var n = 0;
    for (var i = 0; i < docs.length; i++) {
      var d = docs[i];
      if (want === "!" ? d[5] === "MATCH" : (want && d[5] !== want)) continue;
      if (text && d[0].toLowerCase().indexOf(text) < 0 && d[1].toLowerCase().indexOf(text) < 0) continue;
      if (n < LIMIT) res.appendChild(show(d, i));
      n++;
    }
    out.textContent = (n === 1 ? "1 document matches." : n + " documents match.") + (n > LIMIT ? " The first " + LIMIT + " are shown." : "");
  }
  function fromHash() {
    var m = /^#q=(.*)$/.exec(location.hash);
    if (m) {
      try { q.value = decodeURIComponent(m[1]); } catch (e) { q.value = m[1]; }
      search();
    }
  }
  q.addEventListener("input", search);
  st.addEventListener("change", search);
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
