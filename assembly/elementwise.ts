// Elementwise kernels, bias, loss, batch norm and optimisers. Semantics: src/engine/reference.ts.

/** y[i] = max(x[i], 0); y may equal x. */
export function reluForward(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    // select, not max: keeps NaN as 0 like the scalar tail and the reference (x > 0 ? x : 0)
    v128.store(y + o, v128.bitselect(v, zero, f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v > 0 ? v : 0);
  }
}

/** dx[i] = y[i] > 0 ? dy[i] : 0; dx may equal dy. */
export function reluBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

/** y[n, c, s] += bias[c]. */
export function addBias(y: usize, bias: usize, N: i32, C: i32, S: i32): void {
  if (S == 1) {
    for (let n = 0; n < N; n++) {
      const row = y + (<usize>(n * C) << 2);
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(bias + o)));
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        store<f32>(row + o, load<f32>(row + o) + load<f32>(bias + o));
      }
    }
    return;
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const row = y + (<usize>((n * C + c) * S) << 2);
      const bs = load<f32>(bias + (<usize>c << 2));
      const b = f32x4.splat(bs);
      let s = 0;
      for (; s + 4 <= S; s += 4) v128.store(row + (<usize>s << 2), f32x4.add(v128.load(row + (<usize>s << 2)), b));
      for (; s < S; s++) store<f32>(row + (<usize>s << 2), load<f32>(row + (<usize>s << 2)) + bs);
    }
  }
}

/** Σ of n floats: 4 lanes, then lanes added in a fixed order, accumulated in f64 by the caller. */
// @ts-ignore: decorator
@inline function rowSum(p: usize, n: i32): f64 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(p + (<usize>j << 2)));
  let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) +
    <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  for (; j < n; j++) s += <f64>load<f32>(p + (<usize>j << 2));
  return s;
}

/** dBias[c] = Σ_{n, s} dy[n, c, s]. */
export function biasBackward(dy: usize, N: i32, C: i32, S: i32, dBias: usize): void {
  if (S == 1) {
    memory.fill(dBias, 0, <usize>C << 2);
    for (let n = 0; n < N; n++) {
      const row = dy + (<usize>(n * C) << 2);
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const o = <usize>c << 2;
        v128.store(dBias + o, f32x4.add(v128.load(dBias + o), v128.load(row + o)));
      }
      for (; c < C; c++) {
        const o = <usize>c << 2;
        store<f32>(dBias + o, load<f32>(dBias + o) + load<f32>(row + o));
      }
    }
    return;
  }
  for (let c = 0; c < C; c++) {
    let s: f64 = 0;
    for (let n = 0; n < N; n++) s += rowSum(dy + (<usize>((n * C + c) * S) << 2), S);
    store<f32>(dBias + (<usize>c << 2), <f32>s);
  }
}

/** Rows of the last softmaxCrossEntropy call whose argmax equals the label. */
let lastCorrect: i32 = 0;
export function softmaxCorrect(): i32 {
  return lastCorrect;
}

/**
 * Mean softmax cross-entropy of logits[N, C] against labels[N]; dLogits = (softmax - onehot) / N.
 * Returns the mean loss; the count of correct rows is read with softmaxCorrect(). A label outside
 * [0, C) returns NaN (the host checks labels first).
 */
export function softmaxCrossEntropy(logits: usize, labels: usize, N: i32, C: i32, dLogits: usize): f64 {
  let loss: f64 = 0;
  let correct = 0;
  const invN: f64 = 1.0 / <f64>N;
  for (let n = 0; n < N; n++) {
    const row = logits + (<usize>(n * C) << 2);
    const drow = dLogits + (<usize>(n * C) << 2);
    const label = load<i32>(labels + (<usize>n << 2));
    let max: f32 = -Infinity;
    let argmax = 0;
    for (let c = 0; c < C; c++) {
      const v = load<f32>(row + (<usize>c << 2));
      if (v > max) {
        max = v;
        argmax = c;
      }
    }
    if (argmax == label) correct++;
    let sumExp: f64 = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(<f64>load<f32>(row + (<usize>c << 2)) - <f64>max);
      store<f32>(drow + (<usize>c << 2), <f32>e);
      sumExp += e;
    }
    loss += Math.log(sumExp) - (<f64>load<f32>(row + (<usize>label << 2)) - <f64>max);
    const scale = invN / sumExp;
    for (let c = 0; c < C; c++) {
      const p = <f64>load<f32>(drow + (<usize>c << 2)) * scale;
      store<f32>(drow + (<usize>c << 2), <f32>(c == label ? p - invN : p));
    }
  }
  lastCorrect = correct;
  return loss / <f64>N;
}

// ---- batch norm over [N, C, S] -----------------------------------------------------------------

export function batchNormForwardTrain(
  x: usize, N: i32, C: i32, S: i32, gamma: usize, beta: usize, eps: f32, momentum: f32,
  runningMean: usize, runningVar: usize, y: usize, saveMean: usize, saveInvStd: usize,
): void {
  const count = N * S;
  for (let c = 0; c < C; c++) {
    let sum: f64 = 0;
    for (let n = 0; n < N; n++) sum += rowSum(x + (<usize>((n * C + c) * S) << 2), S);
    const mean = sum / <f64>count;
    let squares: f64 = 0;
    const mv = f32x4.splat(<f32>mean);
    for (let n = 0; n < N; n++) {
      const row = x + (<usize>((n * C + c) * S) << 2);
      let acc = f32x4.splat(0);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const d = f32x4.sub(v128.load(row + (<usize>s << 2)), mv);
        acc = f32x4.add(acc, f32x4.mul(d, d));
      }
      let part: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) +
        <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
      for (; s < S; s++) {
        const d = <f64>load<f32>(row + (<usize>s << 2)) - mean;
        part += d * d;
      }
      squares += part;
    }
    const biasedVar = squares / <f64>count;
    const invStd = 1.0 / Math.sqrt(biasedVar + <f64>eps);
    const g = <f64>load<f32>(gamma + (<usize>c << 2));
    const b = <f64>load<f32>(beta + (<usize>c << 2));
    // y = x * scale + shift with scale = gamma*invStd, shift = beta - mean*scale
    const scale = <f32>(g * invStd);
    const shift = <f32>(b - mean * g * invStd);
    const vs = f32x4.splat(scale);
    const vh = f32x4.splat(shift);
    for (let n = 0; n < N; n++) {
      const o = (<usize>((n * C + c) * S) << 2);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const q = <usize>s << 2;
        v128.store(y + o + q, f32x4.add(f32x4.mul(v128.load(x + o + q), vs), vh));
      }
      for (; s < S; s++) {
        const q = <usize>s << 2;
        store<f32>(y + o + q, load<f32>(x + o + q) * scale + shift);
      }
    }
    const co = <usize>c << 2;
    store<f32>(saveMean + co, <f32>mean);
    store<f32>(saveInvStd + co, <f32>invStd);
    const m = <f64>momentum;
    store<f32>(runningMean + co, <f32>((1 - m) * <f64>load<f32>(runningMean + co) + m * mean));
    store<f32>(runningVar + co, <f32>((1 - m) * <f64>load<f32>(runningVar + co) + m * squares / <f64>(count - 1)));
  }
}

export function batchNormForwardEval(
  x: usize, N: i32, C: i32, S: i32, gamma: usize, beta: usize, eps: f32,
  runningMean: usize, runningVar: usize, y: usize,
): void {
  for (let c = 0; c < C; c++) {
    const co = <usize>c << 2;
    const invStd = 1.0 / Math.sqrt(<f64>load<f32>(runningVar + co) + <f64>eps);
    const g = <f64>load<f32>(gamma + co);
    const scale = <f32>(g * invStd);
    const shift = <f32>(<f64>load<f32>(beta + co) - <f64>load<f32>(runningMean + co) * g * invStd);
    const vs = f32x4.splat(scale);
    const vh = f32x4.splat(shift);
    for (let n = 0; n < N; n++) {
      const o = (<usize>((n * C + c) * S) << 2);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const q = <usize>s << 2;
        v128.store(y + o + q, f32x4.add(f32x4.mul(v128.load(x + o + q), vs), vh));
      }
      for (; s < S; s++) {
        const q = <usize>s << 2;
        store<f32>(y + o + q, load<f32>(x + o + q) * scale + shift);
      }
    }
  }
}

/** dBeta = Σ dy, dGamma = Σ dy·x̂, dx = gamma·invStd/M · (M·dy - dBeta - x̂·dGamma). */
export function batchNormBackward(
  x: usize, dy: usize, N: i32, C: i32, S: i32, gamma: usize,
  saveMean: usize, saveInvStd: usize, dx: usize, dGamma: usize, dBeta: usize,
): void {
  const count = N * S;
  for (let c = 0; c < C; c++) {
    const co = <usize>c << 2;
    const mean = load<f32>(saveMean + co);
    const invStd = load<f32>(saveInvStd + co);
    const mv = f32x4.splat(mean);
    let sumDy: f64 = 0;
    let sumDyXc: f64 = 0; // Σ dy·(x - mean); x̂ = (x - mean)·invStd
    for (let n = 0; n < N; n++) {
      const o = (<usize>((n * C + c) * S) << 2);
      let a = f32x4.splat(0);
      let b = f32x4.splat(0);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const q = <usize>s << 2;
        const d = v128.load(dy + o + q);
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(d, f32x4.sub(v128.load(x + o + q), mv)));
      }
      let pa: f64 = <f64>f32x4.extract_lane(a, 0) + <f64>f32x4.extract_lane(a, 1) + <f64>f32x4.extract_lane(a, 2) + <f64>f32x4.extract_lane(a, 3);
      let pb: f64 = <f64>f32x4.extract_lane(b, 0) + <f64>f32x4.extract_lane(b, 1) + <f64>f32x4.extract_lane(b, 2) + <f64>f32x4.extract_lane(b, 3);
      for (; s < S; s++) {
        const q = <usize>s << 2;
        const d = <f64>load<f32>(dy + o + q);
        pa += d;
        pb += d * (<f64>load<f32>(x + o + q) - <f64>mean);
      }
      sumDy += pa;
      sumDyXc += pb;
    }
    const sumDyXhat = sumDyXc * <f64>invStd;
    store<f32>(dBeta + co, <f32>sumDy);
    store<f32>(dGamma + co, <f32>sumDyXhat);
    // dx = k·dy - k/M·sumDy - k/M·sumDyXhat·invStd·(x - mean), k = gamma·invStd
    const k = <f64>load<f32>(gamma + co) * <f64>invStd;
    const a1 = <f32>k;
    const a2 = <f32>(k * sumDyXhat * <f64>invStd / <f64>count);
    const a0 = <f32>(k * sumDy / <f64>count);
    const v1 = f32x4.splat(a1);
    const v2 = f32x4.splat(a2);
    const v0 = f32x4.splat(a0);
    for (let n = 0; n < N; n++) {
      const o = (<usize>((n * C + c) * S) << 2);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const q = <usize>s << 2;
        const t = f32x4.sub(f32x4.mul(v128.load(dy + o + q), v1), v0);
        v128.store(dx + o + q, f32x4.sub(t, f32x4.mul(f32x4.sub(v128.load(x + o + q), mv), v2)));
      }
      for (; s < S; s++) {
        const q = <usize>s << 2;
        store<f32>(dx + o + q, load<f32>(dy + o + q) * a1 - a0 - (load<f32>(x + o + q) - mean) * a2);
      }
    }
  }
}

// ---- optimisers --------------------------------------------------------------------------------

/** dW[i] = mask[i] == 0 ? 0 : dW[i]. */
export function applyMask(dW: usize, mask: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dW + o, v128.and(v128.load(dW + o), f32x4.ne(v128.load(mask + o), zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (load<f32>(mask + o) == 0) store<f32>(dW + o, 0);
  }
}

/**
 * Adam over n elements (mask = 0 for none): g = grad + wd·p; m = b1·m + (1-b1)·g;
 * v = b2·v + (1-b2)·g²; p -= stepSize · m / (sqrt(v)·invSqrtBc2 + eps), stepSize = lr / bc1.
 * Masked elements: p, m, v = 0.
 */
export function adamStep(
  p: usize, g: usize, m: usize, v: usize, mask: usize, n: i32,
  stepSize: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, invSqrtBc2: f32,
): void {
  const b1 = f32x4.splat(beta1), c1 = f32x4.splat(1 - beta1);
  const b2 = f32x4.splat(beta2), c2 = f32x4.splat(1 - beta2);
  const wd = f32x4.splat(weightDecay), ss = f32x4.splat(stepSize);
  const ve = f32x4.splat(eps), vb = f32x4.splat(invSqrtBc2), zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    const gv = f32x4.add(v128.load(g + o), f32x4.mul(wd, pv));
    const mv = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, gv));
    const vv = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(c2, f32x4.mul(gv, gv)));
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vv), vb), ve);
    const np = f32x4.sub(pv, f32x4.div(f32x4.mul(ss, mv), denom));
    if (mask != 0) {
      const keep = f32x4.ne(v128.load(mask + o), zero);
      v128.store(p + o, v128.and(np, keep));
      v128.store(m + o, v128.and(mv, keep));
      v128.store(v + o, v128.and(vv, keep));
    } else {
      v128.store(p + o, np);
      v128.store(m + o, mv);
      v128.store(v + o, vv);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (mask != 0 && load<f32>(mask + o) == 0) {
      store<f32>(p + o, 0);
      store<f32>(m + o, 0);
      store<f32>(v + o, 0);
      continue;
    }
    const pv = load<f32>(p + o);
    const gv = load<f32>(g + o) + weightDecay * pv;
    const mv = beta1 * load<f32>(m + o) + (1 - beta1) * gv;
    const vv = beta2 * load<f32>(v + o) + (1 - beta2) * gv * gv;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    store<f32>(p + o, pv - stepSize * mv / (Mathf.sqrt(vv) * invSqrtBc2 + eps));
  }
}

/**
 * SGD (torch.optim.SGD): d = grad + wd·p; with momentum, buf = first ? d : momentum·buf +
 * (1-dampening)·d and d = nesterov ? d + momentum·buf : buf; p -= lr·d. Masked elements: p, buf = 0.
 */
export function sgdStep(
  p: usize, g: usize, buf: usize, mask: usize, n: i32,
  lr: f32, momentum: f32, nesterov: i32, weightDecay: f32, dampening: f32, first: i32,
): void {
  const vlr = f32x4.splat(lr), vmom = f32x4.splat(momentum), vwd = f32x4.splat(weightDecay);
  const vdamp = f32x4.splat(1 - dampening), zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    let d = f32x4.add(v128.load(g + o), f32x4.mul(vwd, pv));
    let keep = f32x4.eq(zero, zero); // all ones
    if (mask != 0) keep = f32x4.ne(v128.load(mask + o), zero);
    if (momentum != 0) {
      const b = first ? d : f32x4.add(f32x4.mul(vmom, v128.load(buf + o)), f32x4.mul(vdamp, d));
      v128.store(buf + o, v128.and(b, keep));
      d = nesterov ? f32x4.add(d, f32x4.mul(vmom, b)) : b;
    } else if (mask != 0) {
      v128.store(buf + o, v128.and(v128.load(buf + o), keep)); // masked state is 0, as the reference
    }
    v128.store(p + o, v128.and(f32x4.sub(pv, f32x4.mul(vlr, d)), keep));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    if (mask != 0 && load<f32>(mask + o) == 0) {
      store<f32>(p + o, 0);
      store<f32>(buf + o, 0);
      continue;
    }
    const pv = load<f32>(p + o);
    let d = load<f32>(g + o) + weightDecay * pv;
    if (momentum != 0) {
      const b = first ? d : momentum * load<f32>(buf + o) + (1 - dampening) * d;
      store<f32>(buf + o, b);
      d = nesterov ? d + momentum * b : b;
    }
    store<f32>(p + o, pv - lr * d);
  }
}
