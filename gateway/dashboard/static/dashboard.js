/* Draws every chart of the page with uPlot from the JSON spec beside it (no inline code:
   the page's CSP allows scripts from /ui/static only). Each drawn figure gets
   data-drawn="<values drawn>", which the tests read. */
(function () {
  "use strict";

  var FORMAT = {
    requests: function (v) { return v >= 1000 ? (v / 1000).toFixed(1) + "k" : String(Math.round(v)); },
    percent: function (v) { return (v * 100).toFixed(v !== 0 && Math.abs(v) < 0.1 ? 1 : 0) + "%"; },
    ms: function (v) { return v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms"; },
    usd: function (v) { return "$" + (v >= 0.01 || v === 0 ? v.toFixed(2) : v.toFixed(4)); },
    value: function (v) { return Number(v.toPrecision(3)).toString(); }
  };

  function show(format) {
    return function (u, v) { return v == null ? "–" : format(v); };
  }

  function series(spec) {
    var format = FORMAT[spec.unit] || FORMAT.value;
    var out = [{}];
    spec.lines.forEach(function (line, i) {
      var s = {
        label: line.label,
        stroke: line.colour,
        width: line.dash ? 1 : 2,
        points: { show: false },
        value: show(format)
      };
      if (line.dash) { s.dash = [5, 4]; }
      // Sparse lines (a version that served a few steps) draw their points, or a lone
      // value between gaps would not show at all.
      var values = line.values.filter(function (v) { return v != null; }).length;
      if (!line.dash && values > 0 && values <= 30) { s.points = { show: true, size: 5 }; }
      if (spec.kind === "interval" && spec.band && spec.band.indexOf(i) >= 0) {
        s.width = 1;
        s.stroke = "rgba(59, 91, 219, 0.55)";
      }
      if (spec.kind === "interval" && i === 2) { s.points = { show: true, size: 5 }; }
      out.push(s);
    });
    return out;
  }

  function options(spec, width) {
    var format = FORMAT[spec.unit] || FORMAT.value;
    var compact = spec.height <= 120;
    var opts = {
      width: width,
      height: spec.height,
      series: series(spec),
      legend: { show: !compact && spec.kind !== "interval", live: false },
      // Times in UTC, like every other time on the dashboard.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { show: !compact, stroke: "#6b7385", grid: { stroke: "#eef1f6" }, ticks: { show: false } },
        {
          show: !compact,
          stroke: "#6b7385",
          size: 58,
          grid: { stroke: "#eef1f6" },
          ticks: { show: false },
          values: function (u, ticks) { return ticks.map(format); }
        }
      ]
    };
    if (spec.kind !== "interval" && (spec.unit === "requests" || spec.unit === "percent" || spec.unit === "usd")) {
      var empty = spec.unit === "percent" ? 0.05 : 1;  // all zero: a flat line near the floor
      opts.scales.y = { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : empty]; } };
    }
    if (spec.y_range) {
      opts.scales.y = { range: function () { return spec.y_range; } };
    }
    if (spec.kind === "interval" && spec.band) {
      // uPlot counts series from 1 (0 is x): the band fills between high and low.
      opts.bands = [{ series: [spec.band[1] + 1, spec.band[0] + 1], fill: "rgba(59, 91, 219, 0.14)" }];
    }
    return opts;
  }

  function draw(figure) {
    var source = figure.querySelector("script[type='application/json']");
    var target = figure.querySelector(".chart-canvas");
    if (!source || !target) { return; }
    var spec = JSON.parse(source.textContent);
    var data = [spec.x].concat(spec.lines.map(function (line) { return line.values; }));
    var width = Math.max(200, target.clientWidth || figure.clientWidth);
    var plot = new uPlot(options(spec, width), data, target);
    var drawn = 0;
    spec.lines.forEach(function (line) {
      if (!line.dash) { line.values.forEach(function (v) { if (v != null) { drawn += 1; } }); }
    });
    figure.dataset.drawn = String(drawn);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(200, target.clientWidth), height: spec.height });
    });
  }

  function drawAll() {
    Array.prototype.forEach.call(document.querySelectorAll("figure[data-chart]"), draw);
    document.documentElement.dataset.charts = "drawn";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
