/**
 * Runs `fn` over `items` with at most `concurrency` in flight and returns the results in order. On the first
 * failure it stops taking new items, waits for those in flight (so nothing runs on after a test closes its
 * client), then throws that failure.
 */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, async () => {
      while (!failure && next < items.length) {
        const i = next++;
        try {
          results[i] = await fn(items[i]!, i);
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure) throw failure.error;
  return results;
}
