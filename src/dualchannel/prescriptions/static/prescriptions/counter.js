// The pharmacy counter: a signature pad, a hint on scanned traceability codes (the server
// decides), the home-delivery address shown only when chosen, and no accidental submit when a
// scanner ends its input with Enter.
(function () {
  "use strict";
  var STANDARD = /^\d{20}$/;

  function signaturePad(canvas) {
    var input = document.getElementById(canvas.dataset.signature);
    var ctx = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;
    ctx.lineWidth = 2.5;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";

    function at(evt) {
      var box = canvas.getBoundingClientRect();
      return [
        (evt.clientX - box.left) * (canvas.width / box.width),
        (evt.clientY - box.top) * (canvas.height / box.height),
      ];
    }
    canvas.addEventListener("pointerdown", function (evt) {
      drawing = true;
      canvas.setPointerCapture(evt.pointerId);
      var p = at(evt);
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      evt.preventDefault();
    });
    canvas.addEventListener("pointermove", function (evt) {
      if (!drawing) return;
      var p = at(evt);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      drawn = true;
    });
    function finish() {
      if (!drawing) return;
      drawing = false;
      if (drawn) input.value = canvas.toDataURL("image/png");
    }
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);

    var clear = document.querySelector('[data-clear="' + canvas.id + '"]');
    if (clear) {
      clear.addEventListener("click", function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        input.value = "";
        drawn = false;
      });
    }
    if (input.value) {
      // the form came back (a refusal): show the signature it carries
      var img = new Image();
      img.onload = function () { ctx.drawImage(img, 0, 0); };
      img.src = input.value;
    }
  }

  function traceCodeHint(area) {
    var note = document.getElementById(area.dataset.traceCodes);
    var packages = document.getElementById(area.dataset.packages);
    function check() {
      var codes = area.value.split(/\s+/).filter(Boolean);
      var odd = codes.filter(function (c) { return !STANDARD.test(c); });
      var want = packages ? parseInt(packages.value, 10) || 0 : 0;
      var parts = ["已扫 " + codes.length + " / 应扫 " + want];
      if (odd.length) parts.push(odd.length + " 个不是20位数字追溯码：" + odd.join("、") + "（以系统核验为准）");
      note.textContent = parts.join("；");
      note.classList.toggle("warn", odd.length > 0 || codes.length !== want);
    }
    area.addEventListener("input", check);
    if (packages) packages.addEventListener("input", check);
    check();
  }

  function deliveryFields(select) {
    function show() {
      document.querySelectorAll("[data-mode]").forEach(function (box) {
        box.hidden = box.dataset.mode !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function init() {
    document.querySelectorAll("canvas[data-signature]").forEach(signaturePad);
    document.querySelectorAll("textarea[data-trace-codes]").forEach(traceCodeHint);
    var mode = document.getElementById("delivery_mode");
    if (mode) deliveryFields(mode);
    var form = document.getElementById("counter-form");
    if (form) {
      form.addEventListener("keydown", function (evt) {
        var tag = evt.target.tagName;
        if (evt.key === "Enter" && tag !== "TEXTAREA" && tag !== "BUTTON") evt.preventDefault();
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
