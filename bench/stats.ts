/**
 * Whether two samples of answer times can be told apart: the Mann-Whitney rank test (normal
 * approximation with tie correction) and the best one-request guess by a time threshold.
 */

/** Ranks 1…n of the values, ties sharing their average rank; also each tie group's size. */
function rank(values: number[]): { ranks: number[]; tieSizes: number[] } {
  const order = values.map((v, i) => ({ v, i })).sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(values.length);
  const tieSizes: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.v === order[start]?.v) end++;
    const shared = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]?.i as number] = shared;
    if (end > start) tieSizes.push(end - start + 1);
    start = end + 1;
  }
  return { ranks, tieSizes };
}

/**
 * The Mann-Whitney U of `a` against `b` as a z score, without continuity correction: negative
 * when `a` tends to be smaller. |z| ≥ 3 says the two differ (two-sided p < 0.003).
 */
export function mannWhitneyZ(a: number[], b: number[]): { u: number; z: number } {
  const n1 = a.length;
  const n2 = b.length;
  const n = n1 + n2;
  const { ranks, tieSizes } = rank([...a, ...b]);
  const rankSum = ranks.slice(0, n1).reduce((s, r) => s + r, 0);
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const ties = tieSizes.reduce((s, t) => s + t ** 3 - t, 0);
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)));
  return { u, z: variance > 0 ? (u - (n1 * n2) / 2) / Math.sqrt(variance) : 0 };
}

/**
 * The best accuracy of a one-request rule "faster than t ⇒ a" or "faster than t ⇒ b", over
 * every threshold t: 0.5 when the times tell nothing (for equal sample sizes), 1 when they
 * tell every request apart.
 */
export function bestThresholdAccuracy(a: number[], b: number[]): number {
  const labelled = [...a.map((v) => ({ v, isA: true })), ...b.map((v) => ({ v, isA: false }))];
  labelled.sort((x, y) => x.v - y.v);
  const n = labelled.length;
  // Threshold below everything: every request is "not faster", so the rule says b for all.
  let aBelow = 0;
  let bBelow = 0;
  let best = Math.max(b.length, a.length) / n;
  for (let k = 0; k < n; ) {
    const v = labelled[k]?.v;
    while (k < n && labelled[k]?.v === v) {
      if (labelled[k]?.isA) aBelow++;
      else bBelow++;
      k++;
    }
    const belowMeansA = (aBelow + (b.length - bBelow)) / n;
    best = Math.max(best, belowMeansA, 1 - belowMeansA);
  }
  return best;
}
