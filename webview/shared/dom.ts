// Element builders of the webviews. Text always goes in with textContent and attributes with
// setAttribute: run and dataset data is never parsed as HTML (the CSP forbids inline script and
// style anyway).
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string>> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
