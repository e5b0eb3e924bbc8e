/**
 * The service's name: Powertools' `service` (the dimension of every metric, a field of every log line),
 * and the `service` of the token key's encryption context.
 */
export const SERVICE_NAME = 'token-vending-service';
