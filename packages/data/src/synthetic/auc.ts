/**
 * Exact ROC AUC with ties counted one half (Mann-Whitney with mid-ranks), for the Bayes AUC of the
 * synthetic world. Kept local so the data package does not depend on the metrics package.
 */

/**
 * AUC of `scores` against 0/1 `labels` over the positions `at` (all positions when absent).
 * NaN when the positions hold only one class. Throws on a NaN score or a label other than 0/1.
 */
export function exactAuc(labels: ArrayLike<number>, scores: ArrayLike<number>, at?: ArrayLike<number>): number {
  if (labels.length !== scores.length) throw new Error(`exactAuc: labels has ${labels.length} entries, scores ${scores.length}`);
  const n = at ? at.length : labels.length;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = at ? at[i]! : i;
    const s = scores[j]!,
      y = labels[j]!;
    if (Number.isNaN(s)) throw new Error(`exactAuc: score at position ${j} is NaN`);
    if (y !== 0 && y !== 1) throw new Error(`exactAuc: label at position ${j} must be 0 or 1, got ${y}`);
    idx[i] = j;
  }
  idx.sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0,
    rankSum = 0;
  for (let i = 0; i < n; ) {
    let k = i + 1;
    while (k < n && scores[idx[k]!] === scores[idx[i]!]) k++;
    const midRank = (i + 1 + k) / 2; // ranks i+1 .. k share their mean
    for (let m = i; m < k; m++)
      if (labels[idx[m]!] === 1) {
        pos++;
        rankSum += midRank;
      }
    i = k;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
