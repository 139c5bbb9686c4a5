import { useCallback, useEffect, useState } from "preact/hooks";
import { api, type Page } from "./api";

/** A cursor-paged list: the first page of `path`, then "more" appends the next; a new path starts over. */
export function usePaged<T>(path: string | null) {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(
    async (cursor: string | null) => {
      if (path === null) return;
      setLoading(true);
      setError(null);
      try {
        const separator = path.includes("?") ? "&" : "?";
        const page = await api<Page<T>>(cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path);
        setItems((current) => (cursor ? [...current, ...page.data] : page.data));
        setNext(page.has_more ? page.next_cursor : null);
      } catch (failure) {
        setError(failure);
      } finally {
        setLoading(false);
      }
    },
    [path],
  );

  useEffect(() => {
    setItems([]);
    void load(null);
  }, [load]);

  return { items, setItems, error, loading, more: next ? () => load(next) : null, reload: () => load(null) };
}
