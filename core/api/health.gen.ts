// Generated from api-spec/health.yaml by scripts/gen-api-types.ts. Do not edit.

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Health of this node's agent, its uptime and the system load */
        get: operations["GetHealthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Connectivity of every known node, as the last probe found it */
        get: operations["GetStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/status/probe": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Probes every known node now and answers with the result */
        put: operations["PutStatusProbe"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description The result of one probe; status is empty when it succeeded */
        ConnectivityStatus: {
            /** @description When it was probed (RFC 3339) */
            lastProbed?: string;
            /** @description Round-trip time in nanoseconds */
            latency?: number;
            /** @description Why the probe failed; empty on success */
            status?: string;
        };
        /** @description Connectivity to a node's health endpoint */
        EndpointStatus: {
            "primary-address"?: components["schemas"]["PathStatus"];
            "secondary-addresses"?: components["schemas"]["PathStatus"][];
        };
        /** @description Health of this node's agent */
        HealthResponse: {
            /** @description The agent's StatusResponse (GET /v1/healthz of the agent's API) */
            cilium?: {
                [key: string]: unknown;
            };
            "system-load"?: components["schemas"]["LoadResponse"];
            /** @description How long the health cell has run (Go duration) */
            uptime?: string;
        };
        /** @description Connectivity of every known node */
        HealthStatusResponse: {
            local?: components["schemas"]["SelfStatus"];
            nodes?: components["schemas"]["NodeStatus"][];
            /** @description The interval between probes (Go duration) */
            probeInterval?: string;
            /** @description When the last probe ended (RFC 3339) */
            timestamp?: string;
        };
        /** @description Connectivity to a node's own addresses */
        HostStatus: {
            "primary-address"?: components["schemas"]["PathStatus"];
            "secondary-addresses"?: components["schemas"]["PathStatus"][];
        };
        /** @description The system load averages, as /proc/loadavg has them */
        LoadResponse: {
            last1min?: string;
            last5min?: string;
            last15min?: string;
        };
        /** @description Connectivity of one node */
        NodeStatus: {
            "health-endpoint"?: components["schemas"]["EndpointStatus"];
            host?: components["schemas"]["HostStatus"];
            name?: string;
        };
        /** @description Connectivity to one IP, by protocol */
        PathStatus: {
            http?: components["schemas"]["ConnectivityStatus"];
            icmp?: components["schemas"]["ConnectivityStatus"];
            ip?: string;
        };
        SelfStatus: {
            name?: string;
        };
    };
    responses: {
        /** @description An error, as a JSON string */
        Error: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": string;
            };
        };
    };
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    GetHealthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthResponse"];
                };
            };
            500: components["responses"]["Error"];
        };
    };
    GetStatus: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthStatusResponse"];
                };
            };
            503: components["responses"]["Error"];
        };
    };
    PutStatusProbe: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthStatusResponse"];
                };
            };
            403: components["responses"]["Error"];
            500: components["responses"]["Error"];
        };
    };
}
