/* zhibo console: draws the goal trends and keeps a live room's charts current over SSE.
   Served by zhibo itself; Chart.js comes from static/vendor (make assets). */
"use strict";

(function () {
  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  var hasCharts = typeof window.Chart === "function";
  var BASE = { animation: false, responsive: true, maintainAspectRatio: false };

  function goalCharts() {
    var charts = readJson("goal-charts");
    var labels = readJson("goal-labels");
    if (!charts || !hasCharts) return;
    document.querySelectorAll("canvas[data-goal-chart]").forEach(function (canvas) {
      var data = charts[canvas.dataset.goalChart];
      var days = data.days.slice();
      var actual = data.counts.slice();
      var projection = actual.map(function () { return null; });
      if (days.length && data.year_end !== days[days.length - 1]) {
        projection[projection.length - 1] = actual[actual.length - 1];
        days.push(data.year_end);
        actual.push(null);
        projection.push(data.projected);
      }
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: days,
          datasets: [
            { label: labels.actual, data: actual, borderColor: "#0b5cad", pointRadius: 0, stepped: true },
            { label: labels.projection, data: projection, borderColor: "#b3541e", borderDash: [6, 4], pointRadius: 2, spanGaps: true }
          ]
        },
        options: Object.assign({}, BASE, {
          scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true, ticks: { precision: 0 } } }
        })
      });
    });
  }

  function boardCharts() {
    var charts = readJson("board-charts");
    if (!charts || !hasCharts) return;
    document.querySelectorAll("canvas[data-board-chart]").forEach(function (canvas) {
      var data = charts[canvas.dataset.boardChart];
      new window.Chart(canvas, {
        type: "bar",
        data: { labels: data.names, datasets: [{ data: data.values, backgroundColor: "#0b5cad" }] },
        options: Object.assign({}, BASE, {
          indexAxis: "y",
          plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true } }
        })
      });
    });
  }

  /* Tables marked "sortable": each column header becomes a button; a click (or Enter) sorts
     the rows by that column, numbers as numbers (¥, commas and % ignored). */
  function sortKey(cell) {
    var text = (cell.dataset.sort || cell.textContent).trim();
    var number = text.replace(/[¥,%\s]/g, "");
    return number !== "" && !isNaN(Number(number)) ? Number(number) : text.toLowerCase();
  }

  function sortableTables() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var headers = table.querySelectorAll("thead th");
      headers.forEach(function (header, column) {
        if (!header.textContent.trim()) return;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "sort";
        button.textContent = header.textContent;
        header.textContent = "";
        header.appendChild(button);
        button.addEventListener("click", function () {
          var ascending = header.getAttribute("aria-sort") !== "ascending";
          headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
          header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = sortKey(a.cells[column]), y = sortKey(b.cells[column]);
            var order = x < y ? -1 : x > y ? 1 : 0;
            return ascending ? order : -order;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  }

  function profileCharts() {
    var charts = readJson("profile-charts");
    if (!charts || !hasCharts) return;
    document.querySelectorAll("canvas[data-profile-chart]").forEach(function (canvas) {
      var data = charts[canvas.dataset.profileChart];
      var line = canvas.dataset.kind === "line";
      new window.Chart(canvas, {
        type: line ? "line" : "bar",
        data: { labels: data.labels, datasets: [{ data: data.values, backgroundColor: "#0b5cad", borderColor: "#0b5cad", stepped: line, pointRadius: line ? 2 : 0 }] },
        options: Object.assign({}, BASE, {
          indexAxis: canvas.dataset.profileChart === "contributions" ? "y" : "x",
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true } }
        })
      });
    });
  }

  function cashChart() {
    var data = readJson("cash-chart");
    if (!data || !hasCharts) return;
    var colours = ["#0b5cad", "#b3541e", "#2d7a3a", "#a0306f", "#555d66", "#7a5c00", "#005f73", "#6a4c93"];
    var datasets = data.policies.map(function (policy, index) {
      var colour = colours[index % colours.length];
      return { label: policy.name, data: policy.values, borderColor: colour, backgroundColor: colour, pointRadius: 2 };
    });
    new window.Chart(document.getElementById("cash-by-day"), {
      type: "bar",  /* payout days are sparse: bars, not lines drawn between them */
      data: { labels: data.days, datasets: datasets },
      options: Object.assign({}, BASE, { scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true } } })
    });
  }

  function minuteOf(iso) { return iso ? iso.slice(0, 16) : ""; }

  function yuan(fen) {
    var sign = fen < 0 ? "-" : "";
    fen = Math.abs(fen);
    var whole = Math.floor(fen / 100).toLocaleString("en-US");
    return sign + "¥" + whole + "." + String(fen % 100).padStart(2, "0");
  }

  function roomPage() {
    var holder = document.getElementById("room-stream");
    if (!holder) return;
    var initial = readJson("room-initial");
    var labels = readJson("room-labels");
    var series = { online: [], likes: [], orders: [], gmv: [] };
    var minutes = [];
    initial.minutes.forEach(function (row) {
      minutes.push(minuteOf(row.minute));
      series.online.push(row.online);
      series.likes.push(row.likes);
      series.orders.push(row.orders);
      series.gmv.push(row.gmv_fen / 100);
    });
    var charts = {};
    var colours = { online: "#0b5cad", likes: "#a0306f", orders: "#2d7a3a", gmv: "#b3541e" };
    if (hasCharts) {
      Object.keys(series).forEach(function (name) {
        var canvas = document.getElementById("chart-" + name);
        charts[name] = new window.Chart(canvas, {
          type: name === "online" ? "line" : "bar",
          data: { labels: minutes, datasets: [{ label: labels[name], data: series[name], backgroundColor: colours[name], borderColor: colours[name], pointRadius: 3 }] },
          options: Object.assign({}, BASE, {
            scales: {
              x: { ticks: { callback: function (value) { return this.getLabelForValue(value).slice(11, 16); } } },
              y: { beginAtZero: true }
            }
          })
        });
      });
    }
    var last = initial.session || { likes: 0, orders: 0, gmv_fen: 0 };
    var state = document.getElementById("stream-state");
    function setState(name) { state.dataset.state = name; state.textContent = labels[name]; }

    function apply(snapshot) {
      var minute = minuteOf(snapshot.last_event_at);
      var index = minutes.indexOf(minute);
      if (index < 0) {
        minutes.push(minute);
        Object.keys(series).forEach(function (name) { series[name].push(0); });
        index = minutes.length - 1;
      }
      series.online[index] = snapshot.online_now;
      series.likes[index] += Math.max(0, snapshot.likes - last.likes);
      series.orders[index] += Math.max(0, snapshot.orders - last.orders);
      series.gmv[index] += Math.max(0, snapshot.gmv_fen - last.gmv_fen) / 100;
      last = snapshot;
      document.querySelectorAll("#room-now [data-field]").forEach(function (cell) {
        var value = snapshot[cell.dataset.field];
        cell.textContent = cell.dataset.money ? yuan(value) : String(value);
      });
      Object.keys(charts).forEach(function (name) { charts[name].update(); });
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    }

    function notice(data) {
      var list = document.getElementById("notices");
      var item = document.createElement("li");
      var title = document.createElement("strong");
      title.textContent = data.title || data.kind;
      item.appendChild(title);
      item.appendChild(document.createTextNode(" " + (data.message || "")));
      list.insertBefore(item, list.firstChild);
      var none = document.getElementById("no-notices");
      if (none) none.remove();
    }

    var source = new EventSource(holder.dataset.url);
    source.onopen = function () { setState("live"); };
    source.onerror = function () { setState("lost"); };
    source.addEventListener("metrics", function (event) { apply(JSON.parse(event.data)); });
    source.addEventListener("notice", function (event) { notice(JSON.parse(event.data)); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  /* Canvas text is drawn once: load the glyphs the labels and the page need (zhibo's own CJK
     font, by unicode-range subset) before drawing, so no text shows empty boxes. */
  function fontsFor(ids) {
    if (!document.fonts || !document.fonts.load) return Promise.resolve();
    var text = ids.map(function (id) {
      var labels = readJson(id);
      return labels ? Object.keys(labels).map(function (k) { return labels[k]; }).join("") : "";
    }).join("") + document.body.innerText;
    var family = getComputedStyle(document.body).fontFamily;
    if (hasCharts) window.Chart.defaults.font.family = family;
    return Promise.all([
      document.fonts.load("12px " + family, text),
      document.fonts.load("bold 12px " + family, text)
    ]).catch(function () {});
  }

  /* A long action's page (a settlement run, an index rebuild, a grading run): poll its
     progress until it is done or failed. */
  function jobPage() {
    var box = document.getElementById("job");
    if (!box) return;
    var labels = readJson("job-labels") || { state: {}, stage: {} };
    function poll() {
      fetch(box.dataset.progressUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.json(); })
        .then(function (now) {
          document.getElementById("job-progress").value = now.progress;
          var state = document.getElementById("job-state");
          var stage = document.getElementById("job-stage");
          state.textContent = labels.state[now.state] || now.state;
          state.dataset.state = now.state;
          stage.textContent = labels.stage[now.stage] || now.stage;
          stage.dataset.stage = now.stage;
          var figure = document.getElementById("job-figure");
          if (figure) figure.textContent = now.total ? now.done + " / " + now.total : now.done;
          box.dataset.state = now.state;
          if (now.error) {
            var error = document.getElementById("job-error");
            error.textContent = now.error;
            error.hidden = false;
          }
          if (now.state === "done") document.getElementById("job-done").hidden = false;
          if (now.state !== "done" && now.state !== "failed") window.setTimeout(poll, 500);
        });
    }
    if (box.dataset.state !== "done" && box.dataset.state !== "failed") poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    sortableTables();
    jobPage();
    fontsFor(["goal-labels", "room-labels"]).then(function () {
      goalCharts();
      boardCharts();
      profileCharts();
      cashChart();
      roomPage();
    });
  });
})();
