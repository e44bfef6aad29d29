/** Quality measures of the reward models: AUROC, mean absolute error, retrieval recall@k. */

/** Area under the ROC curve (ties count one half); NaN when a class is absent. */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let nPos = 0,
    nNeg = 0,
    rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && scores[idx[j]] === scores[idx[i]]) j++;
    const avgRank = (i + j + 1) / 2; // 1-based ranks i+1..j
    for (let k = i; k < j; k++) if (positive[idx[k]]) rankSum += avgRank;
    i = j;
  }
  for (let i = 0; i < positive.length; i++) {
    if (positive[i]) nPos++;
    else nNeg++;
  }
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Report-to-image recall@k: similarity[i][j] between report i and image j, the match of i being j = i. Ties count against. */
export function recallAtK(similarity: Float64Array, n: number, k = 1): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const own = similarity[i * n + i];
    let better = 0;
    for (let j = 0; j < n; j++) if (j !== i && similarity[i * n + j] >= own) better++;
    if (better < k) hits++;
  }
  return hits / n;
}

export function meanAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]);
  return a.length ? s / a.length : NaN;
}
