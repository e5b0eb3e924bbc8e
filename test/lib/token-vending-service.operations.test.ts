/**
 * What operators rely on (docs/operations.md): every alarm notifies the topic of the stack's
 * `alarmTopicArn` context value (what `cdk deploy -c alarmTopicArn=…` sets) and points at its runbook
 * entry, which exists; the runbook's queries read what the functions write; and the resources an upgrade
 * must update in place keep their logical ids.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNBOOK_PAGE } from '../../lib/token-vending-service';
import { TokenVendingStack } from '../../lib/token-vending-stack';
import {
  EXAMPLE_CONFIG_FILE,
  logicalId,
  REPOSITORY_ROOT,
  SYNTH_TIMEOUT_MS,
  testApp,
} from '../support/stacks';

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:tvs-alarms';

type Alarm = { Properties: { AlarmDescription?: string; AlarmActions?: unknown; OKActions?: unknown } };

/** The anchors GitHub gives the headings of a Markdown page: lower case, punctuation dropped, spaces → "-". */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    const text = (match[1] ?? '').trim().toLowerCase();
    anchors.add(text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-'));
  }
  return anchors;
}

/** The source of both functions — their entry points and the core they run — where every log line is written. */
function functionSources(): string {
  return [`${REPOSITORY_ROOT}lambdas/`, `${REPOSITORY_ROOT}packages/core/src/`]
    .flatMap((root) =>
      (readdirSync(root, { recursive: true }) as string[])
        .filter((file) => file.endsWith('.ts'))
        .map((file) => readFileSync(`${root}${file}`, 'utf8')),
    )
    .join('\n');
}

describe('the runbook queries', () => {
  it('filter on messages the functions log and name fields they write', () => {
    const runbook = readFileSync(`${REPOSITORY_ROOT}${RUNBOOK_PAGE}`, 'utf8');
    const sources = functionSources();
    const queries = [...runbook.matchAll(/```\n\s*(fields [\s\S]*?)```/g)].map((match) => match[1] as string);
    expect(queries.length).toBeGreaterThanOrEqual(8);
    for (const query of queries) {
      for (const [, message] of query.matchAll(/message = "([^"]+)"/g)) {
        // A message literal of the functions (the handler picks 'token served' or 'request served').
        expect(sources, `no function logs "${message}"`).toContain(`'${message}'`);
      }
      // Fields listed (fields, by, a function's argument) and fields compared (filter x = …, and y like …).
      const named = [
        ...query.matchAll(/(?:fields|by|,|\()\s*([a-z][a-z_]*)\b(?!\()/g),
        ...query.matchAll(/(?:filter|and|or)\s+([a-z][a-z_]*)\s*(?:=|>|<|!=|like)/g),
      ].map((match) => match[1]);
      for (const field of named) {
        if (['as', 'by', 'desc', 'asc', 'and', 'or', 'like'].includes(field as string)) continue;
        expect(sources, `the runbook queries the field ${field}, which no function writes`).toMatch(
          new RegExp(`\\b${field}\\s*:|[{,]\\s*${field}\\s*[,}]|line\\.${field}\\s*=`),
        );
      }
    }
  });
});

describe('the stack with the alarmTopicArn context value', () => {
  let alarms: [string, Alarm][];
  let stack: TokenVendingStack;

  beforeAll(() => {
    stack = new TokenVendingStack(testApp({ alarmTopicArn: TOPIC_ARN }), 'Tvs', {
      configFile: EXAMPLE_CONFIG_FILE,
    });
    alarms = Object.entries(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')) as [
      string,
      Alarm,
    ][];
  }, SYNTH_TIMEOUT_MS);

  it('gives every alarm that topic as its ALARM and its OK action', () => {
    // The example configuration rotates secrets, so all six alarms are there.
    expect(alarms).toHaveLength(6);
    for (const [id, alarm] of alarms) {
      expect({ id, actions: alarm.Properties.AlarmActions }).toEqual({ id, actions: [TOPIC_ARN] });
      expect({ id, actions: alarm.Properties.OKActions }).toEqual({ id, actions: [TOPIC_ARN] });
    }
  });

  it('says in every alarm what to look at and points at a runbook entry that exists, one per alarm', () => {
    const runbook = readFileSync(`${REPOSITORY_ROOT}${RUNBOOK_PAGE}`, 'utf8');
    const anchors = headingAnchors(runbook);
    const pointed = new Set<string>();
    for (const [id, alarm] of alarms) {
      const description = alarm.Properties.AlarmDescription ?? '';
      expect(description.length, id).toBeLessThanOrEqual(1024); // CloudWatch's limit
      const anchor = new RegExp(`Runbook: ${RUNBOOK_PAGE}#([a-z0-9-]+)$`).exec(description)?.[1];
      expect(anchor, `${id}: ${description}`).toBeDefined();
      expect(anchors, `${RUNBOOK_PAGE} has no heading for #${anchor}`).toContain(anchor);
      pointed.add(anchor as string);
    }
    expect(pointed.size).toBe(alarms.length);
  });

  it('keeps the logical ids of the table, the token key and the alarms, so an upgrade updates them in place', () => {
    // A changed id would make CloudFormation replace the resource: a new, empty table, a new key.
    const service = stack.service;
    const ids = {
      table: logicalId(service.table),
      tokenKey: logicalId(service.tokenKey),
      ...Object.fromEntries(Object.entries(service.alarms).map(([name, alarm]) => [name, logicalId(alarm)])),
    };
    expect(ids).toEqual({
      table: 'TokenVendingServiceTable003DEBB2',
      tokenKey: 'TokenVendingServiceTokenKeyDF6D91A2',
      upstreamFailures: 'TokenVendingServiceUpstreamFailureAlarm79F35057',
      functionErrors: 'TokenVendingServiceFunctionErrorAlarmCAC6D136',
      functionThrottles: 'TokenVendingServiceFunctionThrottleAlarm9C5F9404',
      apiServerErrors: 'TokenVendingServiceApiServerErrorAlarm6FE4947E',
      apiLatency: 'TokenVendingServiceApiLatencyAlarm5CD3D028',
      rotationFailures: 'TokenVendingServiceRotationFailureAlarmCA53EFFB',
    });
  });
});
