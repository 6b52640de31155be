/** JSON text as its value, or the text itself when it is not JSON (what a model or a tool wrote). */
export function jsonOrText<T = unknown>(text: string): T | string {
  try {
    return JSON.parse(text) as T;
  } catch {
    return text;
  }
}
