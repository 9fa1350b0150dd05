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
  function marks() {
    var out = [{ts: data.onset, color: "#d62728", dash: [], label: "onset"}];
    if (data.paged_at !== null) out.push({ts: data.paged_at, color: "#9467bd", dash: [2, 3], label: "page"});
    // changes that are candidates or touch an affected service are labelled; the rest are drawn faintly
    var named = {};
    (data.candidates || []).forEach(function (c) { if (c.cause.type === "change") named[c.cause.id] = true; });
    (data.services || []).forEach(function (s) { named["svc:" + s] = true; });
    (data.changes || []).forEach(function (c) {
      var strong = named[c.id] || named["svc:" + c.service];
      out.push({ts: c.ts, color: strong ? "#1f77b4" : "rgba(31,119,180,0.3)", dash: [6, 4],
                label: strong ? c.kind + " " + c.service : ""});
    });
    (data.health || []).forEach(function (h) {
      out.push({ts: h.ts, color: h.healthy ? "#2ca02c" : "#ff7f0e", dash: [3, 3],
                label: h.target + (h.healthy ? " healthy" : " unhealthy")});
    });
    return out;
  }

  function markersPlugin(list) {
    return {hooks: {draw: [function (u) {
      var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
      ctx.save();
      ctx.font = (10 * dpr) + "px sans-serif";
      list.forEach(function (m, i) {
        var x = Math.round(u.valToPos(m.ts, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.strokeStyle = m.color;
        ctx.fillStyle = m.color;
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash(m.dash.map(function (d) { return d * dpr; }));
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        if (m.label) ctx.fillText(m.label, x + 3 * dpr, u.bbox.top + (12 + 11 * (i % 4)) * dpr);
      });
      ctx.restore();
    }]}};
  }

  var list = marks();
  document.querySelectorAll("figure.plot").forEach(function (fig) {
    var s = data.series[Number(fig.dataset.index)];
    var xs = s.points.map(function (p) { return p[0]; });
    var ys = s.points.map(function (p) { return p[1]; });
    var el = fig.querySelector(".chart");
    // the surrounding hours, from the first sample or the first event on the axis, whichever is earlier
    var xmin = Math.max(data.window.start, Math.min.apply(null, [xs.length ? xs[0] : data.onset].concat(
      list.map(function (m) { return m.ts; }))) - 300);
    var width = Math.max(320, Math.min(1100, el.clientWidth || 900));
    var opts = {
      width: width, height: 220,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      scales: {x: {time: true, range: function () { return [xmin, data.window.end]; }}},
      series: [{}, {label: s.service + " " + s.signal, stroke: "#333", width: 1.5}],
      axes: [{}, {size: 70}],
      plugins: [markersPlugin(list)],
    };
    new uPlot(opts, [xs, ys], el);
    fig.dataset.marks = String(list.filter(function (m) {
      return m.ts >= xmin && m.ts <= data.window.end;
    }).length);
    fig.dataset.plotted = "true";
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
