// The lease countdown: the server says how many seconds are left; this only counts down.
document.querySelectorAll("[data-seconds-left]").forEach(function (clock) {
  var left = parseInt(clock.dataset.secondsLeft, 10);
  function show() {
    var minutes = Math.floor(Math.max(left, 0) / 60), seconds = Math.max(left, 0) % 60;
    clock.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    if (left <= 0) { clock.textContent = clock.dataset.expired; return; }
    left -= 1;
    setTimeout(show, 1000);
  }
  show();
});
