// The portal's login: after a code was sent, "获取验证码" waits out the resend interval with a
// countdown (the server refuses a second code within it). A static file: the CSP allows no
// inline script.
(function () {
  "use strict";
  var timer = null;

  function countdown(button, seconds) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    var left = seconds;
    button.disabled = true;
    button.textContent = "重新发送（" + left + "秒）";
    if (timer) { clearInterval(timer); }
    timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        timer = null;
        button.disabled = false;
        button.textContent = "重新发送";
        return;
      }
      button.textContent = "重新发送（" + left + "秒）";
    }, 1000);
  }

  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || target.id !== "code-status") { return; }
    var sent = target.querySelector("[data-resend-after]");
    var button = document.getElementById("send-code");
    if (!sent || !button) { return; }
    var seconds = parseInt(sent.getAttribute("data-resend-after"), 10);
    if (seconds > 0) { countdown(button, seconds); }
  });
})();
