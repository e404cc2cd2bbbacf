// The statistics page's chart: ECharts (vendored) draws the spec the server put in
// <script type="application/json" id="stat-chart-data"> (no inline script under the CSP).
(function () {
  "use strict";

  function option(spec) {
    var twoAxes = spec.series.some(function (s) { return s.axis === 1; });
    var yAxis = [{ type: "value" }];
    if (twoAxes) { yAxis.push({ type: "value", splitLine: { show: false } }); }
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 60, right: twoAxes ? 60 : 20, top: 40, bottom: 60, containLabel: true },
      xAxis: {
        type: "category",
        data: spec.categories,
        axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 }
      },
      yAxis: yAxis,
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind, data: s.data, yAxisIndex: s.axis || 0 };
      })
    };
  }

  function draw() {
    var holder = document.getElementById("stat-chart");
    var data = document.getElementById("stat-chart-data");
    if (!holder || !data || typeof window.echarts === "undefined") { return; }
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption(option(JSON.parse(data.textContent)));
    holder.setAttribute("data-ready", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
