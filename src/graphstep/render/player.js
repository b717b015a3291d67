/* graphstep's step player: one diagram, every step of a trace, ←/→ and a slider.
   The page holds the diagram's pieces once, each in its few variants, and the steps
   as a reel: a keyframe (the variant of every piece) every `data.every` steps, and for
   each step the pieces it changes. A step is its keyframe plus the deltas after it;
   the player swaps in only the pieces that differ from what it shows.
   The diagram sits in a window of its own: the wheel zooms about the pointer, a drag
   pans, and each step brings its node into view, smoothly. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graphstep-data").textContent);
  var figure = document.getElementById("diagram");
  var slider = document.getElementById("slider");
  var counter = document.getElementById("counter");
  var text = document.getElementById("step-text");
  var last = data.steps.length - 1;
  var current = -1;
  var pieces = data.pieces; /* each: [its own fragments, its variants as fragment numbers] */
  var shown = null; /* the variant drawn of each piece */
  var drawn = []; /* the element drawn for each piece that changes, by piece */
  var scratch = null; /* a detached <g> in which changed pieces are parsed, as SVG */
  var marks = null; /* the <g> of the current step's window outline, over the pictures */

  var READABLE = 0.75; /* a fit never shrinks below this: 9 pt labels stay 9 px */
  var MIN_SCALE = 0.1;
  var MAX_SCALE = 4;
  var MARGIN = 24; /* px kept between the current node and the window's edge */
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  var canvas = document.createElement("div");
  canvas.className = "canvas";
  figure.appendChild(canvas);
  var view = { scale: 1, x: 0, y: 0 };

  slider.max = String(last);

  function codesAt(i) {
    /* the variant of every piece at step i: its keyframe, then the deltas after it */
    var first = i - (i % data.every);
    var frame = data.keyframes[first / data.every];
    var codes = new Uint8Array(pieces.length);
    for (var k = 0; k < codes.length; k++) {
      codes[k] = frame.charCodeAt(k) - 48;
    }
    for (var s = first + 1; s <= i; s++) {
      advance(codes, s);
    }
    return codes;
  }

  function advance(codes, s) {
    /* step s - 1's codes into step s's */
    var delta = data.deltas[s];
    for (var j = 0; j < delta.length; j += 2) {
      codes[delta[j]] = delta[j + 1];
    }
  }

  function variant(k, code) {
    /* a piece's variant, joined from its fragments: n >= 0 its own, n < 0 the shared -1 - n */
    var own = pieces[k][0], numbers = pieces[k][1][code];
    var parts = [];
    for (var j = 0; j < numbers.length; j++) {
      var n = numbers[j];
      parts.push(n >= 0 ? own[n] : data.shared[-1 - n]);
    }
    return parts.join("");
  }

  function drawWhole(codes) {
    var parts = [data.open, data.head];
    for (var k = 0; k < pieces.length; k++) {
      parts.push(variant(k, codes[k]));
    }
    parts.push('<g class="marks"></g>', "</g></svg>");
    canvas.innerHTML = parts.join("");
    marks = canvas.querySelector("g.marks");
    scratch = document.createElementNS(canvas.firstElementChild.namespaceURI, "g");
    var byId = {};
    var groups = canvas.querySelectorAll("svg > g > g[id]");
    for (var g = 0; g < groups.length; g++) {
      byId[groups[g].id] = groups[g];
    }
    drawn = [];
    for (k = 0; k < pieces.length; k++) {
      drawn.push(pieces[k][1].length > 1 ? byId[pieceId(k)] : null);
    }
  }

  function pieceId(k) {
    /* a changing piece is one group, <g id="…" …>, in each of its variants */
    return /^<g id="([^"]*)"/.exec(variant(k, 0))[1];
  }

  function draw(codes) {
    /* the pieces that differ from what is drawn, swapped in; all of them, if most do */
    var changed = [];
    for (var k = 0; shown && k < codes.length; k++) {
      if (codes[k] !== shown[k]) {
        changed.push(k);
      }
    }
    if (!shown || changed.length * 2 > pieces.length) {
      drawWhole(codes);
    } else if (changed.length) {
      scratch.innerHTML = changed.map(function (k) { return variant(k, codes[k]); }).join("");
      var fresh = Array.prototype.slice.call(scratch.children);
      for (var j = 0; j < changed.length; j++) {
        drawn[changed[j]].replaceWith(fresh[j]);
        drawn[changed[j]] = fresh[j];
      }
    }
    shown = codes;
  }

  function apply(smooth) {
    canvas.style.transition = smooth && !still ? "transform 0.35s ease-out" : "none";
    canvas.style.transform =
      "translate(" + view.x + "px, " + view.y + "px) scale(" + view.scale + ")";
  }

  function natural() {
    /* the diagram's size in CSS pixels at scale 1 */
    var svg = canvas.querySelector("svg");
    if (!svg) {
      return { width: 0, height: 0 };
    }
    return { width: svg.width.baseVal.value, height: svg.height.baseVal.value };
  }

  function zoomAt(px, py, scale) {
    /* px, py: a point of the window that stays put while the scale changes */
    scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, scale));
    view.x = px - ((px - view.x) * scale) / view.scale;
    view.y = py - ((py - view.y) * scale) / view.scale;
    view.scale = scale;
  }

  function fit() {
    /* the whole diagram if its labels stay readable; else as small as readable, on the node */
    var size = natural();
    var width = figure.clientWidth, height = figure.clientHeight;
    if (!size.width || !width) {
      return;
    }
    view.scale = Math.max(READABLE, Math.min(1, width / size.width, height / size.height));
    view.x = Math.max(0, (width - size.width * view.scale) / 2);
    view.y = Math.max(0, (height - size.height * view.scale) / 2);
    apply(false);
    follow(false);
  }

  function nodeElement(name) {
    /* the node's group by its <title> (an expanded composite: its cluster);
       a node inside a collapsed block call: the call */
    var titles = canvas.querySelectorAll("g.cluster > title, g.node > title");
    var byName = {};
    for (var k = 0; k < titles.length; k++) {
      byName[titles[k].textContent] = titles[k].parentNode;
    }
    while (name) {
      if (byName[name]) {
        return byName[name];
      }
      var cut = name.lastIndexOf("/");
      name = cut > 0 ? name.slice(0, cut) : "";
    }
    return null;
  }

  function placeOf(node) {
    /* the node's box in the diagram's own pixels (scale 1), whatever move is under way:
       measured against the drawing, which any running transition moves alike */
    var drawing = canvas.querySelector("svg").getBoundingClientRect();
    var at = node.getBoundingClientRect();
    var s = drawing.width / natural().width;
    return {
      x: (at.left - drawing.left) / s,
      y: (at.top - drawing.top) / s,
      width: at.width / s,
      height: at.height / s,
    };
  }

  function along(start, length, room) {
    /* how far to move a span [start, start + length) to show it in [0, room) */
    if (start >= MARGIN && start + length <= room - MARGIN) {
      return 0;
    }
    if (length > room - 2 * MARGIN) {
      return MARGIN - start;
    }
    return room / 2 - (start + length / 2);
  }

  function follow(smooth) {
    var node = nodeElement(data.steps[current].node || "");
    if (!node) {
      return;
    }
    var place = placeOf(node);
    var dx = along(view.x + place.x * view.scale, place.width * view.scale, figure.clientWidth);
    var dy = along(view.y + place.y * view.scale, place.height * view.scale, figure.clientHeight);
    if (dx || dy) {
      view.x += dx;
      view.y += dy;
      apply(smooth);
    }
    /* and the diagram's window itself on the screen (a very short browser window) */
    var box = figure.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      figure.scrollIntoView({ behavior: smooth && !still ? "smooth" : "auto", block: "nearest" });
    }
  }

  function show(i) {
    i = Math.max(0, Math.min(last, i));
    if (i === current) {
      return;
    }
    if (shown && i === current + 1) {
      var codes = shown.slice();
      advance(codes, i);
      draw(codes);
    } else {
      draw(codesAt(i));
    }
    current = i;
    var step = data.steps[i];
    marks.innerHTML = step.marks || "";
    slider.value = String(i);
    counter.textContent = "step " + i + " of " + last;
    text.textContent = step.text;
    text.className = "step-text " + step.phase;
    try {
      history.replaceState(null, "", "#" + i); /* a link to this step */
    } catch (refused) {
      /* a sandboxed frame (a notebook's output cell) has no address of its own */
    }
    follow(true);
  }

  function zoomBy(factor) {
    zoomAt(figure.clientWidth / 2, figure.clientHeight / 2, view.scale * factor);
    apply(true);
  }

  document.getElementById("prev").addEventListener("click", function () { show(current - 1); });
  document.getElementById("next").addEventListener("click", function () { show(current + 1); });
  document.getElementById("fit").addEventListener("click", fit);
  document.getElementById("zoom-in").addEventListener("click", function () { zoomBy(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomBy(0.8); });
  var sliding = false;
  slider.addEventListener("input", function () {
    /* a drag sends many positions: draw the latest once a frame, not each in turn */
    if (!sliding) {
      sliding = true;
      requestAnimationFrame(function () {
        sliding = false;
        show(parseInt(slider.value, 10));
      });
    }
  });

  figure.addEventListener("wheel", function (event) {
    event.preventDefault();
    var box = figure.getBoundingClientRect();
    var delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    var x = event.clientX - box.left - figure.clientLeft;
    var y = event.clientY - box.top - figure.clientTop;
    zoomAt(x, y, view.scale * Math.exp(-delta * 0.0015));
    apply(false);
  }, { passive: false });

  var drag = null;
  figure.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) {
      return;
    }
    drag = { x: event.clientX - view.x, y: event.clientY - view.y };
    figure.setPointerCapture(event.pointerId);
    figure.classList.add("dragging");
  });
  figure.addEventListener("pointermove", function (event) {
    if (drag) {
      view.x = event.clientX - drag.x;
      view.y = event.clientY - drag.y;
      apply(false);
    }
  });
  function release(event) {
    if (drag) {
      drag = null;
      figure.releasePointerCapture(event.pointerId);
      figure.classList.remove("dragging");
    }
  }
  figure.addEventListener("pointerup", release);
  figure.addEventListener("pointercancel", release);

  document.addEventListener("keydown", function (event) {
    if (event.target === slider && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      return; /* the slider moves itself */
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return; /* the browser's own zoom and shortcuts */
    }
    var moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
    if (event.key in moves) {
      show(current + moves[event.key]);
    } else if (event.key === "Home") {
      show(0);
    } else if (event.key === "End") {
      show(last);
    } else if (event.key === "+" || event.key === "=") {
      zoomBy(1.25);
    } else if (event.key === "-") {
      zoomBy(0.8);
    } else if (event.key === "f") {
      fit();
    } else {
      return;
    }
    event.preventDefault();
  });

  var start = parseInt(location.hash.slice(1), 10);
  show(isNaN(start) ? 0 : start);
  fit();
})();
