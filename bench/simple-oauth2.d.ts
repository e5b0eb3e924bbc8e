/** The part of simple-oauth2 5 the callers' bench uses (the package ships no types). */
declare module 'simple-oauth2' {
  export interface AccessToken {
    readonly token: { readonly access_token?: unknown; readonly expires_at?: Date };
    expired(expirationWindowSeconds?: number): boolean;
  }
  export class ClientCredentials {
    constructor(options: {
      client: { id: string; secret: string };
      auth: { tokenHost: string; tokenPath?: string };
      options?: { authorizationMethod?: 'header' | 'body' };
    });
    getToken(params: { scope?: string | string[] }): Promise<AccessToken>;
  }
}
