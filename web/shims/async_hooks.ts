// node:async_hooks for the browser build. The export worker runs one export at a time, so the
// store of the run in progress is the store of everything that export's code asks about.
export class AsyncLocalStorage<T> {
  private store: T | undefined;

  run<R>(store: T, work: () => R): R {
    const outer = this.store;
    this.store = store;
    const result = work();
    // An async export keeps its store until it settles.
    if (result instanceof Promise) {
      return result.finally(() => (this.store = outer)) as R;
    }
    this.store = outer;
    return result;
  }

  getStore(): T | undefined {
    return this.store;
  }
}
