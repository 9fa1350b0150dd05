/* The incident workspace: plots (uPlot), hypothesis and feedback buttons, copy, the investigation timer. */
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("incident-data").textContent);
  var status = document.getElementById("status");

  function say(text, bad) {
    status.textContent = text;
    status.className = "status " + (bad ? "error" : "ok");
  }

  // -- plots ---------------------------------------------------------------------------
  // Zoomed on the incident (a control widens it), 24-hour UTC on every axis, units on the y axes,
  // markers drawn as lines on the canvas with their labels in an HTML strip above it, placed so
  // that no two overlap (a label that fits nowhere becomes its number in the legend below the controls).
  var lay = JSON.parse(document.getElementById("layout-data").textContent);
  var COLORS = {onset: "#d62728", page: "#9467bd", change: "#1f77b4", background: "rgba(31,119,180,0.25)",
                unhealthy: "#ff7f0e", healthy: "#2ca02c"};
  var DASH = {onset: [], page: [2, 3], change: [6, 4], background: [6, 4], unhealthy: [3, 3], healthy: [3, 3]};
  var range = [lay.zoom.start, lay.zoom.end];
  var plots = [];

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hhmm(ts) { var d = new Date(ts * 1000); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }

  function formatter(unit, splits) {
    var lo = Math.min.apply(null, splits), hi = Math.max.apply(null, splits), step = splits.length > 1 ?
      Math.abs(splits[1] - splits[0]) : Math.abs(hi) || 1;
    function digits(scaledStep) {
      return scaledStep >= 1 ? 0 : Math.min(4, Math.ceil(-Math.log10(scaledStep) + 1e-9));
    }
    if (unit === "%") { var d = digits(step * 100); return function (v) { return (v * 100).toFixed(d) + "%"; }; }
    if (unit === "ms") {
      if (hi >= 10) { var ds = digits(step); return function (v) { return v.toFixed(ds) + " s"; }; }
      var dm = digits(step * 1000); return function (v) { return (v * 1000).toFixed(dm) + " ms"; };
    }
    var dr = digits(step), suffix = unit ? " " + unit : "";
    return function (v) { return v.toFixed(dr) + suffix; };
  }

  function linesPlugin() {
    return {hooks: {draw: [function (u) {
      var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
      ctx.save();
      lay.markers.forEach(function (m) {
        var x = Math.round(u.valToPos(m.ts, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.strokeStyle = COLORS[m.kind] || "#888";
        ctx.lineWidth = (m.kind === "background" ? 1 : 1.5) * dpr;
        ctx.setLineDash((DASH[m.kind] || []).map(function (d) { return d * dpr; }));
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      });
      ctx.restore();
    }]}};
  }

  // labelled markers, numbered once for the whole page
  var labelled = lay.markers.filter(function (m) { return m.label; });
  labelled.forEach(function (m, i) { m.n = i + 1; });

  function legend() {
    var ol = document.getElementById("marker-legend");
    if (!ol) return;
    ol.textContent = "";
    labelled.forEach(function (m) {
      if (m.ts < range[0] || m.ts > range[1]) return;
      var li = document.createElement("li");
      li.className = "mk " + m.kind;
      var key = document.createElement("span");
      key.className = "key " + m.kind;
      key.textContent = String(m.n);
      li.appendChild(key);
      li.appendChild(document.createTextNode(" " + hhmm(m.ts) + " " + m.label));
      if (m.title && m.title !== m.label) li.title = m.title;
      ol.appendChild(li);
    });
  }

  var ROWS = 3, GAP = 4;
  function placeLabels(u, strip) {
    strip.textContent = "";
    var left = u.bbox.left / (window.devicePixelRatio || 1);
    var width = u.bbox.width / (window.devicePixelRatio || 1);
    var rows = [];
    for (var r = 0; r < ROWS; r++) rows.push([]);
    var placed = 0;
    // the most important first (onset, then the candidates by rank); a label that fits nowhere becomes its
    // number, nudged right at most a few digits' width; one that still fits nowhere is in the legend only
    labelled.slice().sort(function (a, b) { return a.priority - b.priority || a.ts - b.ts; }).forEach(function (m) {
      if (m.ts < u.scales.x.min || m.ts > u.scales.x.max) return;
      var x = left + u.valToPos(m.ts, "x");
      var texts = [m.n + " " + m.label, String(m.n)];
      for (var t = 0; t < texts.length; t++) {
        var span = document.createElement("span");
        span.className = "mark-label " + m.kind;
        span.textContent = texts[t];
        span.style.visibility = "hidden";
        strip.appendChild(span);
        var w = span.getBoundingClientRect().width;
        var nudges = t === 0 ? [0] : [0, 1, 2, 3];
        for (var k = 0; k < nudges.length; k++) {
          var x0 = Math.min(Math.max(0, x - 2 + nudges[k] * (w + GAP)), left + width - w);
          for (var row = 0; row < ROWS; row++) {
            var clash = rows[row].some(function (b) { return x0 < b[1] + GAP && b[0] < x0 + w + GAP; });
            if (!clash) {
              rows[row].push([x0, x0 + w]);
              span.style.left = x0 + "px";
              span.style.top = (row * 1.35) + "em";
              span.style.visibility = "";
              span.title = hhmm(m.ts) + " " + (m.title || m.label);
              placed++;
              return;
            }
          }
        }
        strip.removeChild(span);
      }
    });
    return placed;
  }

  function applyRange(r, label) {
    range = r;
    plots.forEach(function (p) { p.u.setScale("x", {min: r[0], max: r[1]}); });
    var rl = document.getElementById("range-label");
    if (rl) rl.textContent = label;
    legend();
  }

  var order = Array.prototype.slice.call(document.querySelectorAll("figure.plot"));
  order.forEach(function (fig) {
    var s = data.series[Number(fig.dataset.index)];
    var unit = fig.dataset.unit || "";
    var xs = s.points.map(function (p) { return p[0]; });
    var ys = s.points.map(function (p) { return p[1]; });
    var el = fig.querySelector(".chart"), strip = fig.querySelector(".mark-labels");
    var width = Math.max(260, Math.min(1100, el.clientWidth || 900));
    var opts = {
      width: width, height: 200,
      legend: {show: false},
      scales: {x: {time: true, range: function (u, min, max) { return [min, max]; }}},
      series: [{}, {label: s.service + " " + s.signal, stroke: "#333", width: 1.5}],
      axes: [
        {space: 55, values: function (u, splits) {
          var out = splits.map(hhmm);
          fig.dataset.xticks = out.join("|");
          return out;
        }},
        {size: function (u, values) {  // wide enough for the longest tick label ("1,250 req/s"), never clipped
          if (!values || !values.length) return 64;
          var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
          ctx.save();
          ctx.font = u.axes[1].font ? u.axes[1].font[0] : (12 * dpr) + "px system-ui, sans-serif";
          var w = Math.max.apply(null, values.map(function (v) { return ctx.measureText(String(v)).width; }));
          ctx.restore();
          return Math.ceil(w / dpr) + 22;
        }, values: function (u, splits) {
          var f = formatter(unit, splits), out = splits.map(function (v) { return v == null ? "" : f(v); });
          fig.dataset.yticks = out.join("|");
          return out;
        }},
      ],
      hooks: {draw: [function (u) {
        fig.dataset.min = String(u.scales.x.min);
        fig.dataset.max = String(u.scales.x.max);
        fig.dataset.labels = String(placeLabels(u, strip));
      }]},
      plugins: [linesPlugin()],
    };
    var u = new uPlot(opts, [xs, ys], el);
    plots.push({u: u, el: el});
    u.setScale("x", {min: range[0], max: range[1]});
    u.over.addEventListener("dblclick", function () {
      setTimeout(function () { u.setScale("x", {min: range[0], max: range[1]}); }, 0);
    });
    fig.dataset.marks = String(lay.markers.filter(function (m) {
      return m.ts >= range[0] && m.ts <= range[1];
    }).length);
    fig.dataset.plotted = "true";
  });
  legend();
  var zoomBtn = document.getElementById("range-zoom"), wideBtn = document.getElementById("range-wide");
  if (zoomBtn) zoomBtn.addEventListener("click", function () {
    applyRange([Number(zoomBtn.dataset.start), Number(zoomBtn.dataset.end)], "the incident");
  });
  if (wideBtn) wideBtn.addEventListener("click", function () {
    applyRange([Number(wideBtn.dataset.start), Number(wideBtn.dataset.end)], "the wider window");
  });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      plots.forEach(function (p) {
        var w = Math.max(260, Math.min(1100, p.el.clientWidth || 900));
        if (Math.abs(w - p.u.width) > 2) p.u.setSize({width: w, height: 200});
      });
    }, 150);
  });

  // -- hypotheses and feedback ------------------------------------------------------------
  function candidate(li) {
    var rank = Number(li.dataset.rank);
    return data.candidates.filter(function (c) { return c.rank === rank; })[0];
  }

  function report(r, done) {
    if (r.ok) { say(done, false); setTimeout(function () { location.reload(); }, 600); return; }
    var b = r.body || {};
    var msg = b.message || ("request failed (" + r.status + ")");
    if (r.status === 401 || r.status === 403) msg += ": enter a write token at the top of the page";
    say(msg + (b.field ? " [" + b.field + "]" : ""), true);
  }

  document.querySelectorAll("li.candidate").forEach(function (li) {
    var c = candidate(li);
    var note = li.querySelector(".note-input");
    li.querySelectorAll("button.hyp").forEach(function (btn) {
      btn.addEventListener("click", function () {
        window.whatchangedPost("/api/v1/incidents/" + encodeURIComponent(data.id) + "/hypotheses",
                               {cause: c.cause, state: btn.dataset.state, note: note.value})
          .then(function (r) { report(r, "Marked " + btn.dataset.state + "; the receivers were told."); },
                function () { say("The daemon did not answer.", true); });
      });
    });
    li.querySelector("button.feedback.cause").addEventListener("click", function () {
      window.whatchangedPost("/api/v1/incidents/" + encodeURIComponent(data.id) + "/feedback",
                             {cause: c.cause, note: note.value})
        .then(function (r) { report(r, "Thanks: recorded as the cause."); },
              function () { say("The daemon did not answer.", true); });
    });
  });
  var none = document.getElementById("none-of-these");
  if (none) none.addEventListener("click", function () {
    window.whatchangedPost("/api/v1/incidents/" + encodeURIComponent(data.id) + "/feedback", {cause: {type: "none"}})
      .then(function (r) { report(r, "Thanks: recorded that none of these was the cause."); },
            function () { say("The daemon did not answer.", true); });
  });

  // -- copy the command ----------------------------------------------------------------------
  var copy = document.getElementById("copy");
  if (copy) copy.addEventListener("click", function () {
    var code = document.getElementById(copy.dataset.copy);
    var text = code.textContent;
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      copy.textContent = ok ? "Copied" : "Selected: press Ctrl+C";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copy.textContent = "Copied"; }, fallback);
    } else {
      fallback();
    }
  });

  // -- how long the current hypothesis has been investigated ----------------------------------
  var inv = document.getElementById("investigation");
  if (inv) {
    var since = Number(inv.dataset.since), after = Number(inv.dataset.suggestAfter);
    var skew = Date.now() / 1000 - Number(inv.dataset.now);  // the page's clock vs the daemon's
    var elapsed = document.getElementById("elapsed"), suggest = document.getElementById("suggest");
    var tick = function () {
      var s = Math.max(0, Math.floor(Date.now() / 1000 - skew - since));
      var m = Math.floor(s / 60), r = s % 60;
      elapsed.textContent = (m >= 60 ? Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m"
                                     : m + "m " + String(r).padStart(2, "0") + "s");
      if (s >= after) { suggest.hidden = false; inv.classList.add("overdue"); }
    };
    tick();
    setInterval(tick, 1000);
  }
})();
