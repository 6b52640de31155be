import type { Config } from '../lib/config';

/**
 * What a model call costs: integer micro-USD from MODEL_PRICES (USD per 1M tokens, so a token
 * costs `price` micro-USD). A model missing from the table costs 0 and is flagged `unpriced`;
 * a call whose provider reported no usage is counted from its text (about 4 characters a token)
 * and flagged `estimated`. Imports nothing but the config's type, so the chat object and the
 * routes price the same way.
 */
export interface Priced {
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  estimated: boolean;
  unpriced: boolean;
}

/** About 4 characters a token: the usual rule of thumb for English text and BPE tokenizers. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

export function priceCall(
  prices: Config['cost']['prices'],
  model: string,
  usage: { input_tokens: number; output_tokens: number } | null,
  estimateFrom: { prompt: string; reply: string },
): Priced {
  const estimated = usage === null;
  const inputTokens = usage?.input_tokens ?? estimateTokens(estimateFrom.prompt);
  const outputTokens = usage?.output_tokens ?? estimateTokens(estimateFrom.reply);
  const price = Object.hasOwn(prices, model) ? prices[model] : undefined;
  const costMicros = price ? Math.round(inputTokens * price.input + outputTokens * price.output) : 0;
  return { inputTokens, outputTokens, costMicros, estimated, unpriced: !price };
}

/** Micro-USD as the API shows USD: a number with 6 decimals at most. */
export const usd = (micros: number): number => Math.round(micros) / 1_000_000;

/** The first millisecond of the UTC month of `now`, and its `YYYY-MM`. */
export function monthOf(now: number): { start: number; month: string } {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { start, month: new Date(start).toISOString().slice(0, 7) };
}
