import { commands } from '@tvs/local/commands';
import { describe, expect, it } from 'vitest';
import { SERVICE_COMMAND_NAMES } from '../../packages/client/src/cli/tvs';

describe('the service’s own tvs commands', () => {
  it('are exactly those the client’s tvs names when they are not installed', () => {
    expect(Object.keys(commands).sort()).toEqual([...SERVICE_COMMAND_NAMES].sort());
  });

  it('each have a usage line of their own name', () => {
    for (const [name, command] of Object.entries(commands)) expect(command.synopsis).toMatch(`tvs ${name} `);
  });
});
