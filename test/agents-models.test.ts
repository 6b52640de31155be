import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, withVars } from './helpers';
import { publish, uniqueName } from './packages-fixtures';

/**
 * The operator's ceiling on the models agents name (issue 11 item 4): LLM_MODELS (empty: only
 * LLM_MODEL; vitest.config.ts sets "*" for every other test) and AGENT_MAX_OUTPUT_TOKENS.
 */
const agent = (model?: Record<string, unknown>) => ({
  name: 'A', description: '', type: 'chat', role: 'r', system_prompt: 'p', ...(model ? { model } : {}),
});

describe('models an agent may name', () => {
  it('with LLM_MODELS empty only LLM_MODEL is allowed: another model is 400 model_not_allowed at create, PUT and PATCH', async () => {
    const u = await newUser('models');
    await withVars({ LLM_MODELS: '', LLM_MODEL: 'house-model' }, async () => {
      const ok = await call('POST', '/agents', { token: u.token, body: agent() });
      expect(ok.status, ok.text).toBe(201);
      expect(ok.json.agent.model.name).toBe('house-model');
      const named = await call('POST', '/agents', { token: u.token, body: agent({ name: 'house-model' }) });
      expect(named.status).toBe(201);
      const other = await call('POST', '/agents', { token: u.token, body: agent({ name: 'gpt-5' }) });
      expectError(other, 400, 'Model gpt-5 is not allowed here; allowed: house-model');
      expect(other.json.code).toBe('model_not_allowed');
      const id = ok.json.agent.agent_id;
      expect((await call('PATCH', `/agents/${id}`, { token: u.token, body: { model: { name: 'gpt-5' } } })).json.code).toBe('model_not_allowed');
      expect((await call('PUT', `/agents/${id}`, { token: u.token, body: agent({ name: 'gpt-5' }) })).json.code).toBe('model_not_allowed');
      // A PATCH that leaves the model alone is fine.
      expect((await call('PATCH', `/agents/${id}`, { token: u.token, body: { role: 'new' } })).status).toBe(200);
    });
  });

  it('a list allows exactly its models; "*" allows any', async () => {
    const u = await newUser('models2');
    await withVars({ LLM_MODELS: 'a-model, b-model' }, async () => {
      const b = await call('POST', '/agents', { token: u.token, body: agent({ name: 'b-model' }) });
      expect(b.status, b.text).toBe(201);
      expectError(await call('POST', '/agents', { token: u.token, body: agent({ name: 'c-model' }) }), 400, 'Model c-model is not allowed here; allowed: a-model, b-model');
    });
    await withVars({ LLM_MODELS: '*' }, async () => {
      expect((await call('POST', '/agents', { token: u.token, body: agent({ name: 'anything' }) })).status).toBe(201);
    });
  });

  it('max_tokens above AGENT_MAX_OUTPUT_TOKENS is 400', async () => {
    const u = await newUser('maxtok');
    await withVars({ AGENT_MAX_OUTPUT_TOKENS: '100' }, async () => {
      expect((await call('POST', '/agents', { token: u.token, body: agent({ max_tokens: 100 }) })).status).toBe(201);
      const over = await call('POST', '/agents', { token: u.token, body: agent({ max_tokens: 101 }) });
      expectError(over, 400, 'model.max_tokens must be at most 100 (AGENT_MAX_OUTPUT_TOKENS)');
    });
  });

  it("installing a package whose model is not allowed gives an agent on LLM_MODEL, its max_tokens capped", async () => {
    const u = await newUser('instmodel');
    const name = uniqueName('models');
    await publish(u.token, name, '1.0.0', { model: { provider: 'acme', name: 'exotic-model', max_tokens: 100_000 } });
    await withVars({ LLM_MODELS: '', LLM_MODEL: 'house-model', AGENT_MAX_OUTPUT_TOKENS: '2048' }, async () => {
      expect((await call('GET', `/agent/download?query=${name}`, { token: u.token })).status).toBe(200);
    });
    const agents = await call('GET', '/agents', { token: u.token });
    expect(agents.json.agents[0].model).toMatchObject({ provider: 'openai-compatible', name: 'house-model', max_tokens: 2048 });
  });

  it('refuses a bad LLM_MODELS or MODEL_PRICES as config_invalid naming the var', async () => {
    const u = await newUser('badprice');
    const res = await withVars({ MODEL_PRICES: '{"m": {"input": -1, "output": 1}}' }, () => call('GET', '/agents', { token: u.token }));
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ code: 'config_invalid', var: 'MODEL_PRICES' });
    const usd = await withVars({ USER_MONTHLY_LIMIT_USD: 'ten' }, () => call('GET', '/agents', { token: u.token }));
    expect(usd.json).toMatchObject({ code: 'config_invalid', var: 'USER_MONTHLY_LIMIT_USD' });
  });
});
