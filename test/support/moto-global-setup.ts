import type { TestProject } from 'vitest/node';
import { startMoto } from './moto';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

/** One moto server for a whole vitest project (test files isolate themselves by table and secret names). */
export default async function setup(project: TestProject) {
  const moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  return () => moto.stop();
}
