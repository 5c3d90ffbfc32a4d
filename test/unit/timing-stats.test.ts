import { describe, expect, test } from "bun:test";
import { bestThresholdAccuracy, mannWhitneyZ } from "../../bench/stats";

// Reference values from scipy.stats.mannwhitneyu(a, b, use_continuity=False, method="asymptotic").
describe("mannWhitneyZ", () => {
  test("separated samples: U = 0, z = -1.9640", () => {
    const { u, z } = mannWhitneyZ([1, 2, 3], [4, 5, 6]);
    expect(u).toBe(0);
    expect(z).toBeCloseTo(-1.963961, 5);
    expect(mannWhitneyZ([4, 5, 6], [1, 2, 3]).z).toBeCloseTo(1.963961, 5);
  });

  test("ties share their average rank and shrink the variance", () => {
    const { u, z } = mannWhitneyZ([1, 2, 2], [2, 3, 4]);
    expect(u).toBe(1);
    expect(z).toBeCloseTo(-1.623086, 5);
  });

  test("unequal sizes with ties in both samples", () => {
    const { u, z } = mannWhitneyZ([1.5, 2.5, 2.5, 7, 3.1, 0.2], [2.5, 2.5, 9, 4, 1.1]);
    expect(u).toBe(12);
    expect(z).toBeCloseTo(-0.560612, 5);
  });

  test("identical samples: z = 0", () => {
    expect(mannWhitneyZ([1, 2, 3, 4], [1, 2, 3, 4]).z).toBe(0);
    expect(mannWhitneyZ([5, 5], [5, 5]).z).toBe(0);
  });
});

describe("bestThresholdAccuracy", () => {
  test("separated samples are told apart every time, in either order", () => {
    expect(bestThresholdAccuracy([1, 2, 3], [4, 5, 6])).toBe(1);
    expect(bestThresholdAccuracy([4, 5, 6], [1, 2, 3])).toBe(1);
  });

  test("the same times tell nothing", () => {
    expect(bestThresholdAccuracy([1, 2], [1, 2])).toBe(0.5);
    expect(bestThresholdAccuracy([3, 3, 3], [3, 3, 3])).toBe(0.5);
  });

  test("an overlap: the best cut gets 5 of 6 right", () => {
    expect(bestThresholdAccuracy([1, 2, 4], [3, 5, 6])).toBeCloseTo(5 / 6, 10);
  });
});
