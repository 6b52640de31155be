// vitest globalSetup (runs in Node, before the Workers pool starts): the local OpenAI-compatible
// model server (test/model-server/server.mjs) on a free port. vitest.config.ts hands its URL to the
// Worker as LLM_BASE_URL (`${url}/v1`) and MODEL_SERVER_URL; test/model-helpers.ts reads its records.
import type { TestProject } from 'vitest/node';
import { startModelServer } from './model-server/server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServerUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startModelServer();
  project.provide('modelServerUrl', server.url);
  return async () => {
    await server.close();
  };
}
