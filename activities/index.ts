// All activities, built from their dependencies (a factory, so tests pass real or fake ones without module mocks).
import type { ActivityDeps } from './deps';
import { deliveryActivities } from './delivery';
import { leadActivities } from './leads';
import { notifyActivities } from './notify';
import { pingActivities } from './ping';
import { routingActivities } from './routing';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...leadActivities(deps),
    ...routingActivities(deps),
    ...deliveryActivities(deps),
    ...notifyActivities(deps),
    ...pingActivities(deps),
  };
}
