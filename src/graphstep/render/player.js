/* graphstep's step player: one diagram, every step of a trace, ←/→ and a slider.
   The page holds the diagram's pieces once, each in its few variants, and for every
   step the variant of each piece: a step is a join of strings, as in svg.py. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graphstep-data").textContent);
  var figure = document.getElementById("diagram");
  var slider = document.getElementById("slider");
  var counter = document.getElementById("counter");
  var text = document.getElementById("step-text");
  var fit = document.getElementById("fit");
  var last = data.steps.length - 1;
  var current = -1;

  slider.max = String(last);

  function svgAt(codes) {
    var parts = [data.open, data.head];
    for (var k = 0; k < data.pieces.length; k++) {
      var variants = data.pieces[k];
      parts.push(variants.length > 1 ? variants[codes.charCodeAt(k) - 48] : variants[0]);
    }
    parts.push("</g></svg>");
    return parts.join("");
  }

  function show(i) {
    i = Math.max(0, Math.min(last, i));
    if (i === current) {
      return;
    }
    current = i;
    var step = data.steps[i];
    figure.innerHTML = svgAt(step.codes);
    slider.value = String(i);
    counter.textContent = "step " + i + " of " + last;
    text.textContent = step.text;
    text.className = "step-text " + step.phase;
    if (history.replaceState) {
      history.replaceState(null, "", "#" + i);
    }
  }

  document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
  document.getElementById("next").addEventListener("click", function () { show(current + 1); });
  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
  fit.addEventListener("change", function () {
    figure.className = fit.checked ? "diagram fit" : "diagram";
  });
  document.addEventListener("keydown", function (event) {
    if (event.target === slider && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      return; /* the slider moves itself */
    }
    var moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
    if (event.key in moves) {
      show(current + moves[event.key]);
    } else if (event.key === "Home") {
      show(0);
    } else if (event.key === "End") {
      show(last);
    } else {
      return;
    }
    event.preventDefault();
  });

  var start = parseInt(location.hash.slice(1), 10);
  show(isNaN(start) ? 0 : start);
})();
