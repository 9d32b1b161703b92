// npconv explain in the browser: the engine (compute) and the page that draws it.
//
// compute(settings) validates a layer with torch's argument names and npconv's own error
// messages (which are torch's), then lists, for every output cell, the (input, weight) pairs
// its sum multiplies. One N-d code path: per spatial dim, a table says which input index
// (or none) each (output position, kernel offset) meets; the pairs are their products.
//
//   conv:        out[m, o] = bias[m] + sum_{b, j} w[m, b, j] * pad(x)[g*B + b, o*s + j*d - lo]
//   transposed:  full[p]   = sum over (c, i, j) with i*s + j*d = p of x[c, i] * w[c, m, j]
//                out[t]    = sum of full[p] over the p whose padded position p - lo is t
//                            ('zeros': only p = t + lo; other modes fold the border back,
//                            npconv's adjoint of conv with that padding mode)
(function () {
  "use strict";

  var MODES = ["zeros", "reflect", "replicate", "circular"];

  function PlanError(message) { this.message = message; }

  function fail(message) { throw new PlanError(message); }

  // --- Python-style text, so messages read exactly as npconv's ------------------------------

  function repr(v) {
    if (Array.isArray(v)) {
      var items = v.map(repr);
      return "(" + items.join(", ") + (items.length === 1 ? ",)" : ")");
    }
    if (typeof v === "string") return "'" + v + "'";
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    return String(v);
  }

  function listRepr(v) {
    return "[" + v.map(repr).join(", ") + "]";
  }

  function prod(a) { return a.reduce(function (x, y) { return x * y; }, 1); }

  function isInt(v) { return typeof v === "number" && Number.isInteger(v); }

  function range(n) { var r = []; for (var i = 0; i < n; i++) r.push(i); return r; }

  function dimLabels(n) {
    if (n === 1) return ["width"];
    if (n === 2) return ["height", "width"];
    if (n === 3) return ["depth", "height", "width"];
    return range(n).map(function (i) { return "dim" + i; });
  }

  function spell(label, values) {
    var names = dimLabels(values.length);
    return values.map(function (v, i) { return label + "_" + names[i] + ": " + v; }).join(" ");
  }

  function fmt(values) { return values.join(" x "); }

  // --- arguments, in the order npconv's modules check them -----------------------------------

  function toTuple(value, n, name) {
    var out;
    if (Array.isArray(value)) {
      out = value.length === 1 && n > 1 ? range(n).map(function () { return value[0]; }) : value;
      if (out.length !== n) {
        fail("expected " + name + " to be a single integer value or a list of " + n +
             " values to match the convolution dimensions, but got " + name + "=" +
             listRepr(value));
      }
    } else {
      out = range(n).map(function () { return value; });
    }
    out.forEach(function (v) {
      if (!isInt(v)) {
        fail(name + " must be an int or a tuple of ints, but got " + name + "=" + repr(v));
      }
    });
    return out.slice();
  }

  function positiveTuple(value, n, name) {
    var out = toTuple(value, n, name);
    if (out.some(function (v) { return v <= 0; })) {
      fail(name + " must be positive, but got " + name + "=" + repr(value));
    }
    return out;
  }

  function nonNegativeTuple(value, n, name) {
    var out = toTuple(value, n, name);
    if (out.some(function (v) { return v < 0; })) {
      fail(name + " must be non-negative, but got " + name + "=" + repr(value));
    }
    return out;
  }

  function isPairPadding(p) {
    return Array.isArray(p) && p.length > 0 && p.every(Array.isArray);
  }

  function paddingPairs(padding, n) {
    var pairs;
    if (isPairPadding(padding)) {
      if (padding.length !== n || padding.some(function (p) { return p.length !== 2; })) {
        fail("asymmetric padding must have one (lo, hi) pair per spatial dimension (" + n +
             "), but got padding=" + repr(padding));
      }
      padding.forEach(function (pair) {
        pair.forEach(function (v) {
          if (!isInt(v)) {
            fail("padding must be an int or a tuple of ints, but got padding=" + repr(v));
          }
        });
      });
      pairs = padding.map(function (p) { return [p[0], p[1]]; });
    } else {
      pairs = toTuple(padding, n, "padding").map(function (p) { return [p, p]; });
    }
    if (pairs.some(function (p) { return p[0] < 0 || p[1] < 0; })) {
      fail("negative padding is not supported, but got padding=" + repr(padding));
    }
    return pairs;
  }

  function extent(k, d) { return d * (k - 1) + 1; }

  function samePadding(kernel, dilation) {
    return kernel.map(function (k, i) {
      var total = dilation[i] * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }

  function transposeSamePadding(size, kernel, stride, dilation, outputPadding) {
    // ONNX auto_pad='SAME_UPPER': output = size * stride; negative totals extend the output
    return size.map(function (n, i) {
      var total = (n - 1) * stride[i] + extent(kernel[i], dilation[i]) + outputPadding[i] -
                  n * stride[i];
      var lo = Math.floor(total / 2);
      return [lo, total - lo];
    });
  }

  function checkModePadding(size, pairs, mode, inputShape) {
    size.forEach(function (n, axis) {
      var lo = pairs[axis][0], hi = pairs[axis][1];
      var dim = inputShape.length - size.length + axis;
      var where = "padding (" + lo + ", " + hi + ") at dimension " + dim + " of input " +
                  listRepr(inputShape);
      if (mode === "reflect" && Math.max(lo, hi) >= n) {
        fail("Argument #4: Padding size should be less than the corresponding input " +
             "dimension, but got: " + where);
      }
      if (mode === "circular" && Math.max(lo, hi) > n) {
        fail("Padding value causes wrapping around more than once: " + where);
      }
      if (mode === "replicate" && n === 0 && lo + hi > 0) {
        fail("replicate padding needs a non-empty dimension " + dim + " of input " +
             listRepr(inputShape));
      }
    });
  }

  // The whole geometry of a layer, validated; every size from the formulas.
  function plan(s) {
    var transposed;
    if (s.op === "conv") transposed = false;
    else if (s.op === "conv_transpose") transposed = true;
    else fail("op must be 'conv' or 'conv_transpose', but got op=" + repr(s.op));
    var size = s.input_size;
    if (!Array.isArray(size) || size.length < 1 ||
        size.some(function (v) { return !isInt(v) || v < 0; })) {
      fail("input_size must be a non-empty list of non-negative ints, but got input_size=" +
           repr(size));
    }
    var n = Array.isArray(s.kernel_size) ? s.kernel_size.length : size.length;
    var groups = s.groups === undefined ? 1 : s.groups;
    if (!isInt(groups) || groups <= 0) fail("groups must be a positive integer");
    ["in_channels", "out_channels"].forEach(function (name) {
      var v = s[name];
      if (!isInt(v) || v < 0) {
        fail(name + " must be a non-negative integer, but got " + name + "=" + repr(v));
      }
    });
    if (s.in_channels % groups !== 0) fail("in_channels must be divisible by groups");
    if (s.out_channels % groups !== 0) fail("out_channels must be divisible by groups");
    var kernel = positiveTuple(s.kernel_size, n, "kernel_size");
    var stride = positiveTuple(s.stride === undefined ? 1 : s.stride, n, "stride");
    var padding = s.padding === undefined ? 0 : s.padding;
    var pairs = null;
    if (typeof padding === "string") {
      if (padding !== "valid" && padding !== "same") {
        fail("Invalid padding string " + repr(padding) + ", should be one of {'valid', 'same'}");
      }
      if (padding === "same" && !transposed && stride.some(function (v) { return v !== 1; })) {
        fail("padding='same' is not supported for strided convolutions");
      }
    } else {
      pairs = paddingPairs(padding, n);
    }
    var dilation = positiveTuple(s.dilation === undefined ? 1 : s.dilation, n, "dilation");
    var outputPadding = range(n).map(function () { return 0; });
    if (transposed) {
      outputPadding = nonNegativeTuple(s.output_padding === undefined ? 0 : s.output_padding,
                                       n, "output_padding");
    }
    var mode = s.padding_mode === undefined ? "zeros" : s.padding_mode;
    if (MODES.indexOf(mode) < 0) {
      fail("padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, but got " +
           "padding_mode=" + repr(mode));
    }
    var name = (transposed ? "conv_transpose" : "conv") + (n <= 3 ? n + "d" : "");
    if (size.length !== n) {
      fail("Expected " + (n + 1) + "D (unbatched) or " + (n + 2) + "D (batched) input to " +
           name + ", but got input of size: " + listRepr([s.in_channels].concat(size)));
    }
    if (typeof padding === "string") {
      if (padding === "valid") pairs = size.map(function () { return [0, 0]; });
      else if (transposed) {
        pairs = transposeSamePadding(size, kernel, stride, dilation, outputPadding);
      } else pairs = samePadding(kernel, dilation);
    }
    var out, full = null;
    if (!transposed) {
      if (mode !== "zeros") checkModePadding(size, pairs, mode, [s.in_channels].concat(size));
      var padded = size.map(function (v, i) { return v + pairs[i][0] + pairs[i][1]; });
      var ext = kernel.map(function (k, i) { return extent(k, dilation[i]); });
      if (padded.some(function (v, i) { return v < ext[i]; })) {
        fail("Calculated padded input size per channel: (" + fmt(padded) + "). Kernel size: (" +
             fmt(ext) + "). Kernel size can't be greater than actual input size");
      }
      out = padded.map(function (v, i) { return Math.floor((v - ext[i]) / stride[i]) + 1; });
    } else {
      if (outputPadding.some(function (op, i) { return op >= stride[i] && op >= dilation[i]; })) {
        fail("output padding must be smaller than either stride or dilation, but got " +
             [spell("output_padding", outputPadding), spell("stride", stride),
              spell("dilation", dilation)].join(" "));
      }
      out = size.map(function (v, i) {
        return (v - 1) * stride[i] - pairs[i][0] - pairs[i][1] +
               extent(kernel[i], dilation[i]) + outputPadding[i];
      });
      if (out.some(function (v) { return v < 1; })) {
        fail("Given input size per channel: (" + fmt(size) + "). Calculated output size per " +
             "channel: (" + fmt(out) + "). Output size is too small");
      }
      if (mode !== "zeros") {
        if (pairs.some(function (p) { return p[0] < 0 || p[1] < 0; })) {
          fail("padding='same' here extends the output (kernel smaller than stride), which " +
               "leaves no border to fold back in padding_mode=" + repr(mode) +
               "; use padding_mode='zeros'");
        }
        checkModePadding(out, pairs, mode, [1, s.out_channels].concat(out));
        full = out.map(function (v, i) { return v + pairs[i][0] + pairs[i][1]; });
      }
    }
    var weightShape = transposed ?
      [s.in_channels, s.out_channels / groups].concat(kernel) :
      [s.out_channels, s.in_channels / groups].concat(kernel);
    return {
      transposed: transposed, n: n, size: size, kernel: kernel, stride: stride,
      padding: pairs, paddingArg: padding, dilation: dilation, outputPadding: outputPadding,
      groups: groups, mode: mode, inChannels: s.in_channels, outChannels: s.out_channels,
      out: out, full: full, weightShape: weightShape, name: name
    };
  }

  // Input index that padded position i copies (i may lie outside [0, n)), or -1 for a zero.
  function source(i, n, mode) {
    if (i >= 0 && i < n) return i;
    if (mode === "zeros" || n === 0) return -1;
    if (mode === "reflect") return i < 0 ? -i : 2 * (n - 1) - i;
    if (mode === "replicate") return Math.min(Math.max(i, 0), n - 1);
    return ((i % n) + n) % n;
  }

  // Every index of an array of `shape`, in C order.
  function indices(shape) {
    var all = [[]];
    shape.forEach(function (s) {
      var next = [];
      all.forEach(function (prefix) {
        for (var i = 0; i < s; i++) next.push(prefix.concat([i]));
      });
      all = next;
    });
    return all;
  }

  function flat(index, shape) {
    var f = 0;
    for (var i = 0; i < shape.length; i++) f = f * shape[i] + index[i];
    return f;
  }

  // Per dim d, meet[d][o][j] = the input index output position o meets at kernel offset j
  // (-1: none). Transposed: a list per (t, j), one entry per full position folding onto t.
  function meetings(g) {
    return range(g.n).map(function (d) {
      var k = g.kernel[d], s = g.stride[d], dil = g.dilation[d], lo = g.padding[d][0];
      return range(g.out[d]).map(function (o) {
        return range(k).map(function (j) {
          if (!g.transposed) {
            var v = source(o * s + j * dil - lo, g.size[d], g.mode);
            return v < 0 ? [] : [v];
          }
          var found = [];
          var positions = g.full === null ? [o + lo] : range(g.full[d]).filter(function (p) {
            return source(p - lo, g.out[d], g.mode) === o;
          });
          positions.forEach(function (p) {
            var q = p - j * dil;
            if (q % s === 0 && q >= 0 && q / s < g.size[d]) found.push(q / s);
          });
          return found;
        });
      });
    });
  }

  // reads[i]: every [input index, weight index] pair out cell i multiplies, in input order.
  function readsOf(g) {
    var meet = meetings(g);
    var S = prod(g.size), K = prod(g.kernel);
    var inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups;
    var outs = indices(g.out), offsets = indices(g.kernel);
    var reads = [];
    for (var m = 0; m < g.outChannels; m++) {
      var group = Math.floor(m / outGroup);
      outs.forEach(function (o) {
        var list = [];
        for (var b = 0; b < inGroup; b++) {
          var c = group * inGroup + b;
          offsets.forEach(function (j, jf) {
            var combos = [[]];
            for (var d = 0; d < g.n && combos.length; d++) {
              var options = meet[d][o[d]][j[d]], next = [];
              combos.forEach(function (prefix) {
                options.forEach(function (v) { next.push(prefix.concat([v])); });
              });
              combos = next;
            }
            var w = g.transposed ? (c * outGroup + (m % outGroup)) * K + jf
                                 : (m * inGroup + b) * K + jf;
            combos.forEach(function (i) { list.push([c * S + flat(i, g.size), w]); });
          });
        }
        list.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
        reads.push(list);
      });
    }
    return reads;
  }

  function exampleValues(count) {
    return range(count).map(function (i) { return i + 1; });
  }

  // {shape, output, reads} of a layer on its input, or {error} in npconv's (torch's) words.
  function compute(settings) {
    var g;
    try {
      g = plan(settings);
    } catch (e) {
      if (e instanceof PlanError) return { error: e.message };
      throw e;
    }
    var x = settings.input || exampleValues(g.inChannels * prod(g.size));
    var w = settings.weight || exampleValues(prod(g.weightShape));
    var bias = settings.bias === undefined ? null : settings.bias;
    if (x.length !== g.inChannels * prod(g.size)) {
      return { error: "input has " + x.length + " values, but its shape (in_channels, " +
               "*input_size) = " + listRepr([g.inChannels].concat(g.size)) + " needs " +
               g.inChannels * prod(g.size) };
    }
    if (w.length !== prod(g.weightShape)) {
      return { error: "weight has " + w.length + " values, but its shape " +
               listRepr(g.weightShape) + " needs " + prod(g.weightShape) };
    }
    if (bias !== null && bias.length !== g.outChannels) {
      return { error: "Given weight of size " + listRepr(g.weightShape) + ", expected bias to " +
               "be 1-dimensional with " + g.outChannels + " elements, but got bias of size [" +
               bias.length + "] instead" };
    }
    var reads = readsOf(g);
    var P = prod(g.out);
    var output = reads.map(function (list, i) {
      var sum = bias === null ? 0 : bias[Math.floor(i / P)];
      list.forEach(function (pair) { sum += x[pair[0]] * w[pair[1]]; });
      return sum;
    });
    return { shape: [g.outChannels].concat(g.out), output: output, reads: reads };
  }

  // --- text for the page: formulas, the constructor call, numbers ---------------------------

  function dimNames(n) {
    if (n === 1) return ["L"];
    if (n === 2) return ["H", "W"];
    if (n === 3) return ["D", "H", "W"];
    return range(n).map(function (i) { return "S" + i; });
  }

  function paddingTerm(pair) {
    return pair[0] === pair[1] ? "2*" + pair[0] : "(" + pair[0] + " + " + pair[1] + ")";
  }

  function formulas(g) {
    var names = dimNames(g.n);
    return range(g.n).map(function (d) {
      var k = g.kernel[d], s = g.stride[d], dil = g.dilation[d], n = g.size[d];
      if (g.transposed) {
        return names[d] + "_out = (" + n + " - 1)*" + s + " - " + paddingTerm(g.padding[d]) +
               " + " + dil + "*(" + k + " - 1) + " + g.outputPadding[d] + " + 1 = " + g.out[d];
      }
      return names[d] + "_out = floor((" + n + " + " + paddingTerm(g.padding[d]) + " - " + dil +
             "*(" + k + " - 1) - 1) / " + s + ") + 1 = " + g.out[d];
    });
  }

  function compact(values) {
    return values.every(function (v) { return v === values[0]; }) ? String(values[0])
                                                                   : repr(values);
  }

  function className(g) {
    var base = g.transposed ? "ConvTranspose" : "Conv";
    return g.n <= 3 ? base + g.n + "d" : base + "Nd";
  }

  // The constructor call, arguments at their default left out (as npconv's format_layer).
  function constructor(g, hasBias) {
    var parts = [String(g.inChannels), String(g.outChannels),
                 g.n > 3 ? repr(g.kernel) : compact(g.kernel)];
    var ones = function (a) { return a.every(function (v) { return v === 1; }); };
    var zeros = function (a) { return a.every(function (v) { return v === 0; }); };
    if (!ones(g.stride)) parts.push("stride=" + compact(g.stride));
    if (typeof g.paddingArg === "string") {
      if (g.paddingArg !== "valid") parts.push("padding=" + repr(g.paddingArg));
    } else if (g.padding.some(function (p) { return p[0] || p[1]; })) {
      var symmetric = g.padding.every(function (p) { return p[0] === p[1]; });
      parts.push("padding=" + (symmetric ? compact(g.padding.map(function (p) { return p[0]; }))
                                         : repr(g.padding)));
    }
    if (!zeros(g.outputPadding)) parts.push("output_padding=" + compact(g.outputPadding));
    if (!ones(g.dilation)) parts.push("dilation=" + compact(g.dilation));
    if (g.groups !== 1) parts.push("groups=" + g.groups);
    if (!hasBias) parts.push("bias=False");
    if (g.mode !== "zeros") parts.push("padding_mode=" + repr(g.mode));
    return className(g) + "(" + parts.join(", ") + ")";
  }

  // Why torch has no such layer, or null when torch builds it as npconv does.
  function beyondTorch(g) {
    if (g.n > 3) return "torch has no " + className(g);
    if (typeof g.paddingArg !== "string" &&
        g.padding.some(function (p) { return p[0] !== p[1]; })) {
      return "(lo, hi) padding pairs are npconv's: torch pads symmetrically";
    }
    if (g.transposed && typeof g.paddingArg === "string" && g.paddingArg === "same") {
      return "padding='same' for a transposed conv is npconv's (torch rejects it)";
    }
    if (g.transposed && g.mode !== "zeros") {
      return "padding_mode=" + repr(g.mode) + " for a transposed conv is npconv's (the adjoint " +
             "of Conv with that padding; torch accepts only 'zeros')";
    }
    return null;
  }

  function number(v) {
    if (Number.isInteger(v)) return String(v);
    var text = v.toPrecision(3);
    return String(Number(text));
  }

  // A number short enough for a cell: the exact value is in the cell's label and the sum.
  function short(v) {
    var text = number(v);
    if (text.length <= 5) return text;
    var a = Math.abs(v);
    if (a >= 1e3 && a < 1e6) return number(Number((v / 1e3).toPrecision(3))) + "k";
    if (a >= 1e6 && a < 1e9) return number(Number((v / 1e6).toPrecision(3))) + "M";
    return v.toExponential(1).replace("e+", "e");
  }

  window.npconvExplain = {
    compute: compute, plan: function (s) {
      try {
        return plan(s);
      } catch (e) {
        if (e instanceof PlanError) return { error: e.message };
        throw e;
      }
    },
    formulas: formulas, constructor: constructor, beyondTorch: beyondTorch, number: number,
    short: short, source: source, indices: indices, flat: flat, prod: prod, range: range,
    dimNames: dimNames, extent: extent, repr: repr
  };
})();

// --- the page ------------------------------------------------------------------------------
//
// Everything drawn comes from compute(settings): output values from `output`, the input and
// weight cells an output cell reads from `reads`, the output cells an input cell reaches from
// `reads` inverted. Only where the kernel sits on the canvas (the padded or spread-out input)
// comes from the geometry, per dim, as in npconv.explain.
(function () {
  "use strict";
  var X = window.npconvExplain;
  var config = JSON.parse(document.getElementById("npconv-config").textContent);
  var limits = config.limits;
  var $ = function (id) { return document.getElementById(id); };
  var state = { settings: null, g: null, result: null, reach: null, pinned: null,
                preview: null, playing: null, timer: null, values: "count", bias: false,
                lit: [] };

  // --- one spatial dim of the canvas: its cells and where windows start --------------------
  function axisOf(g, d) {
    var n = g.size[d], k = g.kernel[d], s = g.stride[d], dil = g.dilation[d];
    var lo = g.padding[d][0], hi = g.padding[d][1], e = X.extent(k, dil);
    if (!g.transposed) {
      return {
        length: n + lo + hi,
        kind: function (c) {
          var i = c - lo, v = X.source(i, n, g.mode);
          if (i >= 0 && i < n) return ["input", i];
          return v < 0 ? ["border", -1] : ["padded", v];
        },
        starts: function (o) { return [o * s]; }
      };
    }
    var folded = g.full !== null;
    var before = folded ? e - 1 : e - 1 - lo;
    var after = (folded ? e - 1 : e - 1 - hi) + g.outputPadding[d];
    var spread = (n - 1) * s + 1;
    return {
      length: before + spread + after, before: before, after: after,
      kind: function (c) {
        var i = c - before;
        if (i < 0 || i >= spread) return ["border", -1];
        return i % s === 0 ? ["input", i / s] : ["gap", -1];
      },
      starts: function (t) {
        if (!folded) return [t];
        return X.range(g.full[d]).filter(function (p) {
          return X.source(p - lo, g.out[d], g.mode) === t;
        });
      }
    };
  }

  var KIND_ORDER = ["border", "gap", "padded", "input"];

  // --- settings from the controls ----------------------------------------------------------
  function parseValue(text, name) {
    var t = text.trim();
    if (/^'?[a-z]+'?$/i.test(t)) return t.replace(/'/g, "");
    var json = "[" + t.replace(/[(]/g, "[").replace(/[)]/g, "]") + "]";
    json = json.replace(/,\s*\]/g, "]");
    var v;
    try { v = JSON.parse(json); } catch (e) {
      throw new Error("cannot read " + name + " " + JSON.stringify(text) +
                      ": write an int, ints separated by commas, or (lo, hi) pairs");
    }
    return v.length === 1 && !Array.isArray(v[0]) ? v[0] : v;
  }

  function broadcast(v, n) {
    return Array.isArray(v) ? v : X.range(n).map(function () { return v; });
  }

  var LCG = function (seed) {
    var x = seed >>> 0;
    return function () { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 4294967296; };
  };

  function values(count, kind, seed) {
    if (kind === "count") return X.range(count).map(function (i) { return i + 1; });
    var r = LCG(seed);
    return X.range(count).map(function () { return Math.floor(r() * 9) - 3; });
  }

  function readControls() {
    var n = Number($("c-dims").value);
    var s = {
      op: $("c-op").value, in_channels: Number($("c-in").value),
      out_channels: Number($("c-out").value), groups: Number($("c-groups").value),
      padding_mode: $("c-mode").value
    };
    var fields = [["kernel_size", "c-kernel"], ["stride", "c-stride"], ["padding", "c-padding"],
                  ["dilation", "c-dilation"], ["output_padding", "c-output-padding"]];
    fields.forEach(function (f) { s[f[0]] = parseValue($(f[1]).value, f[0]); });
    if (!Array.isArray(s.kernel_size)) s.kernel_size = broadcast(s.kernel_size, n);
    var size = parseValue($("c-size").value, "input size");
    s.input_size = broadcast(size, s.kernel_size.length);
    state.values = $("c-values").value;
    state.bias = $("c-bias").checked;
    return s;
  }

  function withValues(s, g) {
    var full = Object.assign({}, s);
    var inCount = g.inChannels * X.prod(g.size), wCount = X.prod(g.weightShape);
    full.input = s.input || values(inCount, state.values, 1);
    full.weight = s.weight || values(wCount, state.values, 2);
    full.bias = s.bias ? s.bias : (state.bias ? (state.values === "count" ?
      X.range(g.outChannels).map(function (m) { return m + 1; }) :
      values(g.outChannels, "random", 3)) : null);
    return full;
  }

  function writeControls(s) {
    var text = function (v) {
      if (typeof v === "string") return v;
      if (!Array.isArray(v)) return String(v);
      if (v.length && Array.isArray(v[0])) {
        if (v.some(function (p) { return p[0] !== p[1]; })) {
          return v.map(function (p) { return "(" + p.join(", ") + ")"; }).join(", ");
        }
        v = v.map(function (p) { return p[0]; });
      }
      return v.every(function (x) { return x === v[0]; }) ? String(v[0]) : v.join(", ");
    };
    $("c-op").value = s.op;
    $("c-dims").value = String(s.kernel_size.length);
    $("c-in").value = s.in_channels;
    $("c-out").value = s.out_channels;
    $("c-groups").value = s.groups;
    $("c-size").value = text(s.input_size);
    $("c-kernel").value = text(s.kernel_size);
    $("c-stride").value = text(s.stride);
    $("c-padding").value = text(s.padding);
    $("c-dilation").value = text(s.dilation);
    $("c-output-padding").value = text(s.output_padding);
    $("c-mode").value = s.padding_mode;
    $("c-bias").checked = !!s.bias;
    $("c-output-padding").disabled = s.op !== "conv_transpose";
  }

  // --- limits: decided from the shapes, before anything is computed ------------------------
  function refusal(g, axes) {
    var problems = [];
    var plane = X.prod(g.size);
    if (g.size.some(function (v) { return v > limits.input_dim; }) || plane > limits.input_cells) {
      problems.push("the input is " + g.size.join(" x ") + " (" + plane + " cells per channel); " +
                    "this page draws inputs up to " + limits.input_dim + " per dim and " +
                    limits.input_cells + " cells per channel (32 x 32)");
    }
    if (g.inChannels > limits.channels || g.outChannels > limits.channels) {
      problems.push("it has " + g.inChannels + " channels in and " + g.outChannels +
                    " out; this page draws at most " + limits.channels + " of each");
    }
    var canvas = axes.map(function (a) { return a.length; });
    if (canvas.concat(g.out).concat(g.kernel).some(function (v) { return v > limits.grid_dim; })) {
      problems.push("its canvas is " + canvas.join(" x ") + ", its kernel " +
                    g.kernel.join(" x ") + " and its output " + g.out.join(" x ") +
                    "; this page draws grids up to " + limits.grid_dim + " cells per dim");
    }
    var cells = g.inChannels * X.prod(canvas) + g.outChannels * X.prod(g.out) +
                X.prod(g.weightShape);
    if (!problems.length && cells > limits.cells) {
      problems.push("it would draw " + cells + " cells; this page draws at most " + limits.cells);
    }
    var products = g.outChannels * X.prod(g.out) * (g.inChannels / g.groups) *
                   X.prod(g.kernel);
    if (!problems.length && products > limits.products) {
      problems.push("its output sums have " + products + " products; this page computes at most " +
                    limits.products);
    }
    return problems;
  }

  // --- drawing -------------------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function label(index, channels, channel) {
    var parts = channels > 1 ? [channel].concat(index) : index;
    return "[" + parts.join(", ") + "]";
  }

  // Slices of an n-d plane as 2-d grids: [(slice title, rows, cols, [index per cell])].
  function slices(shape) {
    var n = shape.length;
    if (n === 1) return [[null, 1, shape[0], X.indices(shape)]];
    if (n === 2) return [[null, shape[0], shape[1], X.indices(shape)]];
    var rest = shape.slice(1), inner = X.indices(rest);
    return X.range(shape[0]).map(function (d) {
      return ["depth " + d, rest[0], rest[1], inner.map(function (i) { return [d].concat(i); })];
    });
  }

  function drawPlane(parent, title, shape, make, cls) {
    var plane = el("div", "plane " + (cls || ""));
    plane.appendChild(el("div", "plane-title", title));
    var row = el("div", "slices");
    slices(shape).forEach(function (sl) {
      var box = el("div", "slice");
      if (sl[0]) box.appendChild(el("div", "slice-title", sl[0]));
      var grid = el("div", "grid");
      grid.setAttribute("role", "group");
      grid.setAttribute("aria-label", title + (sl[0] ? ", " + sl[0] : ""));
      grid.style.gridTemplateColumns = "repeat(" + sl[2] + ", var(--cell))";
      sl[3].forEach(function (index, k) {
        var cell = make(index);
        cell.dataset.row = Math.floor(k / sl[2]);
        cell.dataset.col = k % sl[2];
        if (cell.dataset.role === "weight") cell.setAttribute("role", "img");
        else {
          cell.setAttribute("role", "button");
          cell.tabIndex = -1;
        }
        grid.appendChild(cell);
      });
      box.appendChild(grid);
      row.appendChild(box);
    });
    plane.appendChild(row);
    parent.appendChild(plane);
  }

  function cellSize(g, axes) {
    var widest = Math.max.apply(null, [axes[axes.length - 1].length, g.out[g.n - 1],
                                       g.kernel[g.n - 1]]);
    return Math.max(24, Math.min(40, Math.floor(1180 / widest)));
  }

  function draw() {
    var g = state.g, r = state.result, x = state.full.input, w = state.full.weight;
    var axes = state.axes;
    var canvasShape = axes.map(function (a) { return a.length; });
    var S = X.prod(g.size), P = X.prod(g.out), K = X.prod(g.kernel);
    state.cellSize = cellSize(g, axes);
    document.documentElement.style.setProperty("--cell", state.cellSize + "px");
    var inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups;
    // canvas planes, one per input channel
    var box = $("canvas-planes");
    box.textContent = "";
    var border = "(before, after) = " + axes.map(function (a) {
      return "(" + a.before + ", " + a.after + ")";
    }).join(", ");
    $("canvas-title").textContent = g.transposed ?
      (g.full === null ? "input spread out by stride - 1 zeros, border dilation*(kernel - 1) " +
                         "- padding (+ output_padding after), " + border :
                         "input spread out by stride - 1 zeros, border dilation*(kernel - 1) " +
                         "(+ output_padding after), " + border + "; the border of this full " +
                         "output folds back (" + g.mode + ")") :
      (g.padding.some(function (p) { return p[0] || p[1]; }) ?
        "input, padded (" + g.mode + ")" : "input");
    state.cells = { canvas: [], output: [], weight: [] };
    for (var c = 0; c < g.inChannels; c++) {
      var title = "in channel " + c + (g.groups > 1 ? " (group " + Math.floor(c / inGroup) + ")"
                                                    : "");
      drawPlane(box, title, canvasShape, (function (channel) {
        return function (index) {
          var kind = "input", source = [];
          index.forEach(function (ci, d) {
            var k = axes[d].kind(ci);
            if (KIND_ORDER.indexOf(k[0]) < KIND_ORDER.indexOf(kind)) kind = k[0];
            source.push(k[1]);
          });
          var cell = el("div", "cell k-" + kind);
          cell.dataset.role = "canvas";
          cell.dataset.channel = channel;
          cell.dataset.pos = index.join(",");
          if (kind === "input" || kind === "padded") {
            var q = channel * S + X.flat(source, g.size);
            cell.dataset.input = q;
            cell.textContent = X.short(x[q]);
            cell.setAttribute("aria-label", "in" + label(source, g.inChannels, channel) + " = " +
                              X.number(x[q]) + (kind === "padded" ? " (" + g.mode +
                              " padding copy)" : ""));
          } else {
            cell.textContent = kind === "gap" ? "0" : "";
            cell.setAttribute("aria-label", kind === "gap" ? "inserted zero" :
                              (g.transposed ? "border zero" : "zero padding"));
          }
          state.cells.canvas.push(cell);
          return cell;
        };
      })(c), "group-" + Math.floor(c / inGroup) % 4);
    }
    // weight planes: (out, in/groups) for conv, (in, out/groups) for transposed
    box = $("weight-planes");
    box.textContent = "";
    $("weight-title").textContent = "weight " + g.weightShape.join(" x ") +
      (g.transposed ? " (in, out/groups, *kernel); slides flipped" :
                      " (out, in/groups, *kernel)");
    for (var a = 0; a < g.weightShape[0]; a++) {
      for (var b = 0; b < g.weightShape[1]; b++) {
        var base = (a * g.weightShape[1] + b) * K;
        var wt = g.transposed ?
          "w[in " + a + ", out " + (Math.floor(a / inGroup) * outGroup + b) + "]" :
          "w[out " + a + ", in " + (Math.floor(a / outGroup) * inGroup + b) + "]";
        drawPlane(box, wt, g.kernel, (function (start) {
          return function (index) {
            var i = start + X.flat(index, g.kernel);
            var cell = el("div", "cell k-weight", X.short(w[i]));
            cell.dataset.role = "weight";
            cell.dataset.index = i;
            cell.setAttribute("aria-label", "weight " + index.join(", ") + " = " + X.number(w[i]));
            state.cells.weight.push(cell);
            return cell;
          };
        })(base));
      }
    }
    // output planes
    box = $("output-planes");
    box.textContent = "";
    $("output-title").textContent = "output " + r.shape.join(" x ") + " (out, *spatial)";
    for (var m = 0; m < g.outChannels; m++) {
      var ot = "out channel " + m +
               (g.groups > 1 ? " (group " + Math.floor(m / outGroup) + ")" : "");
      drawPlane(box, ot, g.out, (function (channel) {
        return function (index) {
          var i = channel * P + X.flat(index, g.out);
          var extra = g.transposed && index.some(function (v, d) {
            return v >= g.out[d] - g.outputPadding[d];
          });
          var cell = el("div", "cell k-output" + (extra ? " output-padding" : ""),
                        X.short(r.output[i]));
          cell.dataset.role = "output";
          cell.dataset.index = i;
          cell.dataset.value = r.output[i];
          cell.setAttribute("aria-label", "out" + label(index, g.outChannels, channel) + " = " +
                            X.number(r.output[i]));
          state.cells.output.push(cell);
          return cell;
        };
      })(m), "group-" + Math.floor(m / outGroup) % 4);
    }
    state.cells.canvas.concat(state.cells.output).forEach(function (cell) {
      cell.addEventListener("mouseenter", function () { preview(cell); });
      cell.addEventListener("mouseleave", function () { unpreview(cell); });
      cell.addEventListener("focus", function () { preview(cell); });
      cell.addEventListener("blur", function () { unpreview(cell); });
      cell.addEventListener("click", function () { pin(cell); });
      cell.addEventListener("keydown", keyboard);
    });
    var firstOut = state.cells.output[0], firstIn = state.cells.canvas[0];
    if (firstOut) firstOut.tabIndex = 0;
    if (firstIn) firstIn.tabIndex = 0;
    highlight();
  }

  // --- what a selection lights up ------------------------------------------------------------
  function outputIndexLabel(i) {
    var g = state.g, P = X.prod(g.out);
    return "out" + label(state.outIndex[i % P], g.outChannels, Math.floor(i / P));
  }

  function equation(i) {
    var r = state.result, x = state.full.input, w = state.full.weight;
    var terms = r.reads[i].map(function (p) {
      return X.number(x[p[0]]) + "*" + X.number(w[p[1]]);
    });
    var head = outputIndexLabel(i) + " = ";
    var shown = terms.length > 64 ? terms.slice(0, 64).concat(["... (" + (terms.length - 64) +
                                                              " more products)"]) : terms;
    var text = shown.join(" + ");
    if (state.full.bias) {
      var P = X.prod(state.g.out);
      text += (text ? " + " : "") + X.number(state.full.bias[Math.floor(i / P)]) + " (bias)";
    }
    if (!text) return head + "0 (every cell under the kernel is a zero)";
    return (head + text + " = " + X.number(r.output[i])).replace(/\+ -/g, "- ");
  }

  function selection() { return state.playing !== null ? state.playing :
                                (state.preview || state.pinned); }

  // Light the cells of the selection; only the cells lit last time are cleared, so a hover
  // costs the size of the selection, not of the page.
  function highlight() {
    state.lit.forEach(function (c) {
      c.classList.remove("read", "window", "current", "reach", "source", "pending", "done",
                         "pinned");
      c.removeAttribute("data-weight");
      c.setAttribute("aria-pressed", "false");
    });
    state.lit = [];
    var lit = function (cell, cls) { cell.classList.add(cls); state.lit.push(cell); };
    var sel = selection();
    var text = "Hover, tap or focus (Tab, arrow keys) an output cell to see its sum; an input " +
               "cell to see every output it reaches. Click or Enter pins a cell; Escape unpins.";
    if (state.playing !== null) {
      state.cells.output.forEach(function (c, i) {
        lit(c, i > state.playing.index ? "pending" : "done");
      });
    }
    if (sel && sel.role === "output") {
      var i = sel.index, reads = state.result.reads[i];
      var inputs = {};
      reads.forEach(function (p) {
        inputs[p[0]] = true;
        lit(state.cells.weight[p[1]], "read");
      });
      windowCells(i).forEach(function (key) {
        var cell = state.canvasAt[key[0]];
        if (!cell) return;
        lit(cell, "window");
        if (key[1] !== null && state.showWeights) cell.dataset.weight = key[1];
        if (cell.dataset.input !== undefined && inputs[cell.dataset.input]) {
          cell.classList.add("read");
        }
      });
      lit(state.cells.output[i], "current");
      text = equation(i);
    } else if (sel && sel.role === "canvas") {
      var q = sel.input;
      if (q !== undefined) {
        state.copies[q].forEach(function (c) { lit(c, "source"); });
        var reached = state.reach[q] || [];
        reached.forEach(function (o) { lit(state.cells.output[o], "reach"); });
        var g = state.g, S = X.prod(g.size);
        var idx = state.inIndex[Number(q) % S];
        text = "in" + label(idx, g.inChannels, Math.floor(Number(q) / S)) + " = " +
               X.number(state.full.input[Number(q)]) + " reaches " + reached.length +
               " output cell" + (reached.length === 1 ? "" : "s") +
               (reached.length ? ": " + reached.slice(0, 24).map(outputIndexLabel).join(", ") +
                (reached.length > 24 ? ", ..." : "") : "");
      } else {
        lit(sel.cell, "source");
        text = "a zero: " + (sel.cell.getAttribute("aria-label") || "") +
               "; it reaches outputs, but adds nothing to them";
      }
    }
    if (state.pinned) {
      var pc = state.pinned.cell;
      if (pc && pc.isConnected) {
        lit(pc, "pinned");
        pc.setAttribute("aria-pressed", "true");
      }
    }
    $("equation").textContent = text;
    $("pin-note").textContent = !state.pinned ? "" : "pinned: " +
      (state.pinned.role === "output" ? outputIndexLabel(state.pinned.index) : "an input cell") +
      " (Escape or click it again to unpin)";
  }

  // Canvas cells under the kernel for output i: [[channel,pos key], weight index or null].
  function windowCells(i) {
    var g = state.g, P = X.prod(g.out), K = X.prod(g.kernel);
    var m = Math.floor(i / P), o = state.outIndex[i % P];
    var inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups;
    var group = Math.floor(m / outGroup);
    var starts = [[]];
    state.axes.forEach(function (a, d) {
      var next = [];
      a.starts(o[d]).forEach(function (s0) {
        starts.forEach(function (prefix) { next.push(prefix.concat([s0])); });
      });
      starts = next;
    });
    var offsets = state.offsets, out = [];
    for (var b = 0; b < inGroup; b++) {
      var c = group * inGroup + b;
      starts.forEach(function (start) {
        offsets.forEach(function (j) {
          var pos = j.map(function (jj, d) { return start[d] + jj * g.dilation[d]; });
          var jw = g.transposed ? j.map(function (jj, d) { return g.kernel[d] - 1 - jj; }) : j;
          var wi = g.transposed ? (c * outGroup + (m % outGroup)) * K + X.flat(jw, g.kernel)
                                : (m * inGroup + b) * K + X.flat(jw, g.kernel);
          out.push([c + ":" + pos.join(","), starts.length === 1 ? X.number(state.full.weight[wi])
                                                                 : null]);
        });
      });
    }
    return out;
  }

  function info(cell) {
    if (!cell) return null;
    return { role: cell.dataset.role, index: Number(cell.dataset.index), input: cell.dataset.input,
             cell: cell };
  }

  function preview(cell) { state.preview = info(cell); highlight(); }

  // Leaving a cell ends its preview only (a scroll on focus must not end the focused one's).
  function unpreview(cell) {
    if (state.preview && state.preview.cell === cell) preview(null);
  }

  function pin(cell) {
    stop();
    var next = info(cell);
    var same = state.pinned && next && state.pinned.cell === next.cell;
    state.pinned = same ? null : next;
    highlight();
  }

  // --- keyboard: arrows move within a grid (and on to the next), Enter pins -----------------
  function keyboard(event) {
    var cell = event.currentTarget;
    var key = event.key;
    if (key === "Enter" || key === " ") { pin(cell); event.preventDefault(); return; }
    if (key === "Escape") { state.pinned = null; stop(); highlight(); return; }
    var moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (!moves[key]) return;
    event.preventDefault();
    var grid = cell.parentNode;
    var row = Number(cell.dataset.row) + moves[key][0];
    var col = Number(cell.dataset.col) + moves[key][1];
    var target = grid.querySelector('[data-row="' + row + '"][data-col="' + col + '"]');
    if (!target) {
      var grids = Array.prototype.slice.call(
        cell.closest(".planes").querySelectorAll(".grid"));
      var at = grids.indexOf(grid) + (moves[key][0] + moves[key][1] > 0 ? 1 : -1);
      if (at >= 0 && at < grids.length) {
        var forward = moves[key][1] > 0 || moves[key][0] > 0;
        target = forward ? grids[at].firstChild : grids[at].lastChild;
      }
    }
    if (target) {
      cell.tabIndex = -1;
      target.tabIndex = 0;
      target.focus();
    }
  }

  // --- play / step -----------------------------------------------------------------------------
  function stepTo(i) {
    var count = state.cells.output.length;
    if (!count) return;
    i = ((i % count) + count) % count;
    state.playing = { role: "output", index: i };
    highlight();
    $("step-label").textContent = "step " + (i + 1) + " of " + count;
  }

  function stop() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    state.playing = null;
    $("play").textContent = "Play";
    $("play").setAttribute("aria-pressed", "false");
    $("step-label").textContent = "";
  }

  function play() {
    if (state.timer) {
      paused();
      return;
    }
    var start = state.playing ? state.playing.index + 1 :
                (state.pinned && state.pinned.role === "output" ? state.pinned.index : 0);
    state.pinned = null;
    stepTo(start >= state.cells.output.length ? 0 : start);
    $("play").textContent = "Pause";
    $("play").setAttribute("aria-pressed", "true");
    state.timer = setInterval(function () {
      var next = state.playing.index + 1;
      if (next >= state.cells.output.length) return paused();
      stepTo(next);
    }, Number($("speed").value));
  }

  // The timer stops; the step shown stays.
  function paused() {
    clearInterval(state.timer);
    state.timer = null;
    $("play").textContent = "Play";
    $("play").setAttribute("aria-pressed", "false");
  }

  // --- recompute from the controls -------------------------------------------------------------
  function show(settings) {
    stop();
    state.pinned = null;
    state.preview = null;
    $("error").textContent = "";
    $("error").hidden = true;
    $("figure").hidden = true;
    state.settings = settings;
    var g = X.plan(settings);
    if (g.error) return refuse(g.error, "impossible");
    state.g = g;
    state.axes = X.range(g.n).map(function (d) { return axisOf(g, d); });
    var problems = refusal(g, state.axes);
    var call = X.constructor(g, state.bias);
    var beyond = X.beyondTorch(g);
    $("title").textContent = call;
    document.title = call + " - npconv explain";
    $("call-npconv").textContent = "npconv.nn." + call;
    $("call-torch").textContent = beyond ? "# " + beyond : "torch.nn." + call;
    $("formulas").textContent = X.formulas(g).join("\n");
    if (problems.length) return refuse("Too large to draw: " + problems.join("; ") + ".", "limit");
    state.full = withValues(settings, g);
    var r = X.compute(state.full);
    if (r.error) return refuse(r.error, "impossible");
    state.result = r;
    state.outIndex = X.indices(g.out);
    state.inIndex = X.indices(g.size);
    state.offsets = X.indices(g.kernel);
    state.lit = [];
    state.reach = {};
    r.reads.forEach(function (list, i) {
      list.forEach(function (p) { (state.reach[p[0]] = state.reach[p[0]] || []).push(i); });
    });
    $("figure").hidden = false;
    draw();
    // the weight a window cell meets, written in its corner where there is room for it
    state.showWeights = X.prod(g.kernel) * (g.inChannels / g.groups) <= 64 &&
                        state.cellSize >= 30;
    state.canvasAt = {};
    state.copies = {};        // input index -> the canvas cells showing it (padding copies too)
    state.cells.canvas.forEach(function (c) {
      state.canvasAt[c.dataset.channel + ":" + c.dataset.pos] = c;
      if (c.dataset.input !== undefined) {
        (state.copies[c.dataset.input] = state.copies[c.dataset.input] || []).push(c);
      }
    });
    check();
    return r;
  }

  function refuse(message, why) {
    $("error").hidden = false;
    $("error").dataset.kind = why;
    $("error").textContent = (why === "impossible" ? "Impossible setting: " : "") + message;
    if (why === "impossible") {
      $("formulas").textContent = "";
      $("call-npconv").textContent = "";
      $("call-torch").textContent = "";
    }
    state.result = null;
    return { error: message };
  }

  // The page as written holds npconv's own output for its first layer: say whether it agrees.
  function check() {
    var note = $("check");
    if (!config.expected || digest(state.g) !== digest(X.plan(config.settings)) ||
        state.values !== "count" || state.bias) {
      note.textContent = "";
      return;
    }
    var same = config.expected.length === state.result.output.length &&
               config.expected.every(function (v, i) {
                 return Math.abs(v - state.result.output[i]) <= 1e-9 * Math.max(1, Math.abs(v));
               });
    note.textContent = same ? "These values match npconv's own " + config.layer + " output." :
                              "These values differ from npconv's output: please report this.";
    note.dataset.match = same ? "yes" : "no";
  }

  function digest(g) {
    return JSON.stringify([g.transposed, g.inChannels, g.outChannels, g.groups, g.size, g.kernel,
                           g.stride, g.padding, g.dilation, g.outputPadding, g.mode]);
  }

  function recompute() {
    try {
      show(readControls());
    } catch (e) {
      refuse(e.message, "impossible");
    }
    $("c-output-padding").disabled = $("c-op").value !== "conv_transpose";
  }

  // Changing the number of dims keeps one value per dim where a field has equal entries.
  function changeDims() {
    var n = Number($("c-dims").value);
    ["c-size", "c-kernel", "c-stride", "c-dilation", "c-output-padding", "c-padding"]
      .forEach(function (id) {
        var field = $(id), v;
        try { v = parseValue(field.value, id); } catch (e) { return; }
        if (!Array.isArray(v)) return;
        if (Array.isArray(v[0])) {
          var pairs = X.range(n).map(function (d) { return v[Math.min(d, v.length - 1)]; });
          field.value = pairs.map(function (p) { return "(" + p.join(", ") + ")"; }).join(", ");
        } else {
          var vals = X.range(n).map(function (d) { return v[Math.min(d, v.length - 1)]; });
          field.value = vals.every(function (x) { return x === vals[0]; }) ? String(vals[0])
                                                                          : vals.join(", ");
        }
      });
    recompute();
  }

  function preset() {
    var p = config.presets[Number($("c-preset").value)];
    if (!p) return;
    writeControls(p.settings);
    recompute();
  }

  function init() {
    var select = $("c-preset");
    config.presets.forEach(function (p, i) {
      var o = el("option", null, p.name);
      o.value = String(i);
      select.appendChild(o);
    });
    writeControls(config.settings);
    $("c-dims").addEventListener("change", changeDims);
    $("c-preset").addEventListener("change", preset);
    Array.prototype.forEach.call(document.querySelectorAll("#controls input, #controls select"),
      function (c) {
        if (c.id === "c-dims" || c.id === "c-preset") return;
        c.addEventListener(c.tagName === "SELECT" || c.type === "checkbox" ? "change" : "input",
                           recompute);
      });
    $("play").addEventListener("click", play);
    $("prev").addEventListener("click", function () {
      if (state.timer) { clearInterval(state.timer); state.timer = null; }
      stepTo(state.playing ? state.playing.index - 1 : state.cells.output.length - 1);
    });
    $("next").addEventListener("click", function () {
      if (state.timer) { clearInterval(state.timer); state.timer = null; }
      stepTo(state.playing ? state.playing.index + 1 : 0);
    });
    $("reset").addEventListener("click", function () { stop(); state.pinned = null; highlight(); });
    $("copy").addEventListener("click", function () {
      var text = $("call-npconv").textContent;
      var done = function () { $("copy").textContent = "Copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(); });
      } else selectText();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { state.pinned = null; stop(); highlight(); }
    });
    state.values = "count";
    recompute();
  }

  function selectText() {
    var range = document.createRange();
    range.selectNodeContents($("call-npconv"));
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  X.show = function (settings) {
    writeControls(settings);
    state.values = $("c-values").value;
    state.bias = !!settings.bias;
    return show(settings);
  };
  X.select = function (i) {
    stop();
    state.pinned = info(state.cells.output[i]);
    highlight();
  };
  X.selectInput = function (channel, pos) {
    stop();
    state.pinned = info(state.canvasAt[channel + ":" + pos.join(",")]);
    highlight();
  };
  init();
})();
