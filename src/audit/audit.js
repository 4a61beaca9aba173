"use strict";
// audit.html's search: the documents are in #kx-docs as compact text (data.rs), decoded on the
// first search.
// Every value is shown with textContent: nothing from the data becomes markup.
(function () {
  var box = document.getElementById("kx-find");
  var q = document.getElementById("kx-q");
  var st = document.getElementById("kx-st");
  var out = document.getElementById("kx-out");
  var res = document.getElementById("kx-res");
  var data = document.getElementById("kx-docs");
  var D = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
  var docs = null, broken = null;
  var LIMIT = 50;
  box.hidden = false;

  // The block's format is data.rs's: a header, the run table, then one line per document with
  // only what differs from the document before. Decoded once, on the first search.
  function unesc(t) {
    if (t.indexOf("\\") < 0) return t;
    return t.replace(/\\(u[0-9a-fA-F]{4}|[\s\S])/g, function (m, c) {
      if (c.length > 1) return String.fromCharCode(parseInt(c.slice(1), 16));
      return c === "t" ? "\t" : c === "n" ? "\n" : c === "r" ? "\r" : c;
    });
  }
  function text(prev, t) {
    if (t === undefined) throw new Error("missing token");
    var p = D.indexOf(t.charAt(0)), s = D.indexOf(t.charAt(1));
    if (p < 0 || s < 0) throw new Error("bad token");
    return prev.slice(0, p) + unesc(t.slice(2)) + (s > 0 ? prev.slice(prev.length - s) : "");
  }
  function untemplate(t, b) {
    if (t.indexOf("%") < 0) return t;
    return t.replace(/%([\s\S])/g, function (m, c) { return c === "b" ? b : c; });
  }
  function field(codec, prev, t) {
    if (t === undefined) throw new Error("missing token");
    return codec === "r" ? unesc(t) : text(prev, t);
  }
  function num(v) {
    if (v === "-" || v === "") return null;
    return v.charAt(0) === "~" ? -parseInt(v.slice(1), 36) : parseInt(v, 36);
  }
  function hex(t) {
    if (t.charAt(0) === "!") return unesc(t.slice(1));
    var b = atob(t + "="), h = "";
    for (var i = 0; i < b.length; i++) h += (b.charCodeAt(i) + 256).toString(16).slice(1);
    return h;
  }
  function names(v) { return v ? v.split("\n") : []; }
  var DOC = "tTttTr", TOUCH = "rrrrrrrrrTtTTr", PHOTO = "rTtrtrt";
  function blank(n) { var a = []; while (a.length < n) a.push(""); return a; }
  function decode() {
    var lines = data.textContent.split("\n"), head = lines[0].split("\t");
    if (head[0] !== "ka1") throw new Error("unknown format " + head[0]);
    var n = +head[1], nr = +head[2], runs = [], list = [], i, j, k, x;
    for (i = 0; i < nr; i++) runs.push(lines[1 + i].split("\t").map(unesc));
    var doc = blank(DOC.length), touches = [];
    for (i = 0; i < n; i++) {
      var tk = lines[1 + nr + i].split("\t"), m = tk[0], at = 1, b = 0;
      var bit = function () {
        var c = (b / 6) | 0, on = c < m.length && ((D.indexOf(m.charAt(c)) >> (b % 6)) & 1) === 1;
        b++;
        return on;
      };
      for (x = 0; x < DOC.length; x++) if (bit()) doc[x] = field(DOC[x], doc[x], tk[at++]);
      var bl = doc[0], history = [], nt = parseInt(doc[5], 36) || 0;
      for (j = 0; j < nt; j++) {
        if (!touches[j]) touches[j] = { f: blank(TOUCH.length), p: [] };
        var t = touches[j], photos = [];
        for (x = 0; x < TOUCH.length; x++) if (bit()) t.f[x] = field(TOUCH[x], t.f[x], tk[at++]);
        var np = parseInt(t.f[13], 36) || 0;
        for (k = 0; k < np; k++) {
          if (!t.p[k]) t.p[k] = blank(PHOTO.length);
          var sha = tk[at++], p = t.p[k];
          if (sha === undefined) throw new Error("missing token");
          for (x = 0; x < PHOTO.length; x++) if (bit()) p[x] = field(PHOTO[x], p[x], tk[at++]);
          photos.push([untemplate(p[1], bl), num(p[0]), sha, p[2], p[3], p[4], p[5] === "-" ? null : p[5] === "y", p[6]]);
        }
        var run = runs[parseInt(t.f[0], 36)] || ["?", "?", "?"];
        history.push([run[0], run[1], run[2], num(t.f[1]), t.f[2], t.f[3], num(t.f[4]), num(t.f[5]), num(t.f[6]), num(t.f[7]), num(t.f[8]),
          untemplate(t.f[9], bl), t.f[10], names(untemplate(t.f[11], bl)), names(untemplate(t.f[12], bl)), photos]);
      }
      var last = history.length ? history[history.length - 1][4] : "";
      list.push([untemplate(doc[1], bl), bl, doc[2], doc[3], untemplate(doc[4], bl), last, history]);
    }
    return list;
  }
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
          h.appendChild(el("code", hex(p[2]), "h"));
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
    if (docs === null && broken === null) {
      try { docs = decode(); } catch (e) { broken = e.message; }
    }
    if (broken !== null) {
      out.textContent = "The documents in this file cannot be read (" + broken + "); use audit.csv and audit.xlsx.";
      return;
    }
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
