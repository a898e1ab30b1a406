// Generated from api-spec/openapi.yaml by scripts/gen-api-types.ts. Do not edit.

export interface paths {
    "/bgp/peers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** BGP peers and their sessions */
        get: operations["GetBgpPeers"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/bgp/route-policies": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** BGP route policies */
        get: operations["GetBgpRoutePolicies"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/bgp/routes": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** BGP routes from a routing table */
        get: operations["GetBgpRoutes"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/cgroup-dump-metadata": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Pods and their cgroups as the agent tracks them */
        get: operations["GetCgroupDumpMetadata"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/cluster/nodes": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Nodes known to the agent; with client-id, the change since that client's last call */
        get: operations["GetClusterNodes"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/config": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The agent's configuration */
        get: operations["GetConfig"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Change runtime-changeable options */
        patch: operations["PatchConfig"];
        trace?: never;
    };
    "/debuginfo": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Information about the agent and its environment, for debugging */
        get: operations["GetDebuginfo"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/endpoint": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Endpoints whose labels match (all when no labels are given) */
        get: operations["GetEndpoint"];
        put?: never;
        post?: never;
        /** Delete every endpoint of a container */
        delete: operations["DeleteEndpoint"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/endpoint/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One endpoint */
        get: operations["GetEndpointID"];
        /** Create an endpoint */
        put: operations["PutEndpointID"];
        post?: never;
        /** Delete an endpoint and free what it holds */
        delete: operations["DeleteEndpointID"];
        options?: never;
        head?: never;
        /**
         * Apply a change request to an existing endpoint (deprecated)
         * @deprecated
         */
        patch: operations["PatchEndpointID"];
        trace?: never;
    };
    "/endpoint/{id}/config": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An endpoint's configuration */
        get: operations["GetEndpointIDConfig"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Change an endpoint's runtime options */
        patch: operations["PatchEndpointIDConfig"];
        trace?: never;
    };
    "/endpoint/{id}/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An endpoint's health */
        get: operations["GetEndpointIDHealthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/endpoint/{id}/labels": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An endpoint's labels */
        get: operations["GetEndpointIDLabels"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Set an endpoint's user labels */
        patch: operations["PatchEndpointIDLabels"];
        trace?: never;
    };
    "/endpoint/{id}/log": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An endpoint's status log */
        get: operations["GetEndpointIDLog"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/fqdn/cache": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** DNS lookups seen from all endpoints */
        get: operations["GetFqdnCache"];
        put?: never;
        post?: never;
        /** Forget matching DNS lookups */
        delete: operations["DeleteFqdnCache"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/fqdn/cache/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** DNS lookups seen from one endpoint */
        get: operations["GetFqdnCacheID"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/fqdn/names": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** DNS names and selectors the policy uses */
        get: operations["GetFqdnNames"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Health and status of the agent and its cells */
        get: operations["GetHealthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/identity": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Identities whose labels match (all when no labels are given) */
        get: operations["GetIdentity"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/identity/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One identity */
        get: operations["GetIdentityID"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/identity/endpoints": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Identities used by local endpoints, with reference counts */
        get: operations["GetIdentityEndpoints"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ip": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The ipcache, optionally within a CIDR */
        get: operations["GetIP"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ipam": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Allocate the next free IP */
        post: operations["PostIpam"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ipam/{ip}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Allocate a given IP */
        post: operations["PostIpamIP"];
        /** Release an IP (or every IP of an owner) */
        delete: operations["DeleteIpamIP"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/lrp": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Local redirect policies */
        get: operations["GetLrp"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/map": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Every BPF map the agent owns, each with its cache
         * @description Every open map with its path and its cache (see BPFMap). Cilium's `map list` counts a
         *     map's entries and errors from its cache.
         */
        get: operations["GetMap"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/map/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One BPF map and its cache */
        get: operations["GetMapName"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/map/{name}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The map's recent events, as a stream of MapEvent objects
         * @description The reply is a stream of `MapEvent` JSON objects, one per line (newline-delimited, as
         *     Cilium's CLI decodes it with a JSON stream decoder), oldest first: the events still in
         *     the map's event buffer (sized by `--bpf-map-event-buffers`). Without `follow` the reply
         *     ends after them; with `follow=true` it stays open and carries each new event as it
         *     happens, until the client disconnects, the client reads too slowly (more than 1 MiB
         *     unread: the stream is ended) or the agent stops (the stream ends cleanly). A map without
         *     an event buffer (e.g. one no reconciler writes) answers 404, as Cilium's; at most 32
         *     `follow` streams per map are open at once (429 beyond).
         */
        get: operations["GetMapNameEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The agent's metrics */
        get: operations["GetMetrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/node/ids": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Node IDs and the IPs they stand for */
        get: operations["GetNodeIds"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/policy": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The policy rules (those matching the labels, if given) */
        get: operations["GetPolicy"];
        /** Add or replace policy rules (the body is the rules' JSON as a string) */
        put: operations["PutPolicy"];
        post?: never;
        /** Delete the policy rules matching the labels */
        delete: operations["DeletePolicy"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/policy/resolve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Trace the policy decision between two label sets (and destination ports) */
        get: operations["GetPolicyResolve"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/policy/selectors": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Which identities each selector of the policy matches */
        get: operations["GetPolicySelectors"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/prefilter": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The XDP deny list and its revision
         * @description The CIDRs whose traffic the XDP prefilter drops on --prefilter-device, canonical (host
         *     bits cleared), IPv4 first. `spec` and `status.realized` are the same list: a change is
         *     acknowledged only once it is in the maps and on disk.
         */
        get: operations["GetPrefilter"];
        put?: never;
        post?: never;
        /**
         * Remove CIDRs from the XDP deny list
         * @description Removes every CIDR of `deny` and bumps the revision. Each must be listed, and `revision`
         *     (other than 0) must be the current one, or nothing changes (500 naming the CIDR or both
         *     revisions, as Cilium).
         */
        delete: operations["DeletePrefilter"];
        options?: never;
        head?: never;
        /**
         * Add CIDRs to the XDP deny list
         * @description Adds every CIDR of `deny` (already listed ones count once) and bumps the revision. A
         *     `revision` other than 0 must be the current one, or nothing changes (500 naming both
         *     revisions, as Cilium). A CIDR with host bits set is taken as its network (`10.1.2.3/8`
         *     is `10.0.0.0/8`), as Cilium's parser does; anything that is not a CIDR is 461.
         */
        patch: operations["PatchPrefilter"];
        trace?: never;
    };
    "/service": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Every service */
        get: operations["GetService"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/service/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One service */
        get: operations["GetServiceID"];
        /** Create or update a service */
        put: operations["PutServiceID"];
        post?: never;
        /** Delete a service */
        delete: operations["DeleteServiceID"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        AddressPair: {
            ipv4?: string;
            "ipv4-expiration-uuid"?: string;
            "ipv4-pool-name"?: string;
            ipv6?: string;
            "ipv6-expiration-uuid"?: string;
            "ipv6-pool-name"?: string;
        };
        /** @description Allocated IPs and their owners. */
        AllocationMap: {
            [key: string]: string;
        };
        /**
         * @description How the datapath programs are attached to devices.
         * @enum {string}
         */
        AttachMode: "tc" | "tcx";
        BackendAddress: {
            ip: string;
            nodeName?: string;
            port?: number;
            preferred?: boolean;
            /** @enum {string} */
            state?: "active" | "terminating" | "quarantined" | "maintenance";
            weight?: number;
            zone?: string;
        };
        BandwidthManager: {
            /** @enum {string} */
            congestionControl?: "cubic" | "bbr";
            devices?: string[];
            enabled?: boolean;
        };
        BgpPath: {
            "age-nanoseconds"?: number;
            best?: boolean;
            family?: {
                afi?: string;
                safi?: string;
            };
            nlri?: {
                base64?: string;
            };
            "path-attributes"?: {
                base64?: string;
            }[];
            stale?: boolean;
        };
        BgpPeer: {
            "applied-hold-time-seconds"?: number;
            "applied-keep-alive-time-seconds"?: number;
            "configured-hold-time-seconds"?: number;
            "configured-keep-alive-time-seconds"?: number;
            "connect-retry-time-seconds"?: number;
            "ebgp-multihop-ttl"?: number;
            families?: components["schemas"]["BgpPeerFamilies"][];
            "graceful-restart"?: {
                enabled?: boolean;
                "restart-time-seconds"?: number;
            };
            "local-asn"?: number;
            "peer-address"?: string;
            "peer-asn"?: number;
            "peer-port"?: number;
            "session-state"?: string;
            "uptime-nanoseconds"?: number;
        };
        BgpPeerFamilies: {
            accepted?: number;
            advertised?: number;
            afi?: string;
            received?: number;
            safi?: string;
        };
        BgpRoute: {
            neighbor?: string;
            paths: components["schemas"]["BgpPath"][];
            prefix: string;
            "router-asn"?: number;
        };
        BgpRoutePolicy: {
            name?: string;
            "router-asn"?: number;
            statements?: {
                [key: string]: unknown;
            }[];
            /** @enum {string} */
            type?: "export" | "import";
        };
        /**
         * @description A BPF map. `path` is where it is pinned (its base name is the map's name, as Cilium's
         *     CLI shows it). `cache` is what the agent wants in the map: for a map a reconciler
         *     writes (cellium_lxc from the endpoints table, cellium_ipcache from the ipcache table)
         *     one entry per desired key with its desired action (`ok`: written; `insert`: not yet
         *     written, or the write failed with `last-error`; `delete`: removal failed with
         *     `last-error` and is retried). A map nobody writes from desired state (cellium_metrics,
         *     written by the datapath) has no such cache: its live contents are reported instead,
         *     without a desired action, as Cilium does for maps without a value cache.
         *     The other fields are Cellium extensions that Cilium's model lacks (clients that do not
         *     know them ignore them): `name`, `backend` (kernel or memory), the map's shape
         *     (`map-type` as the kernel's number, `key-size`, `value-size`, `max-entries`),
         *     `entries` (how many entries the map itself holds now, which differs from the cache
         *     while writes are pending or stale entries await pruning), and `errors` / `last-error`
         *     (failed operations on the map since the agent started, and the last one's message),
         *     and `cache-truncated` (present and true when the cache lists only the first 100,000
         *     entries).
         */
        BPFMap: {
            /** @enum {string} */
            backend?: "kernel" | "memory";
            cache?: components["schemas"]["BPFMapEntry"][];
            "cache-truncated"?: boolean;
            entries?: number;
            errors?: number;
            "key-size"?: number;
            "last-error"?: string;
            "map-type"?: number;
            "max-entries"?: number;
            name?: string;
            path?: string;
            "value-size"?: number;
        };
        /**
         * @description One entry of a map's cache; key and value rendered field by field from the map's
         *     layouts (e.g. `ip=10.200.0.5 family=1 key=0 cluster_id=0`).
         */
        BPFMapEntry: {
            /** @enum {string} */
            "desired-action"?: "ok" | "insert" | "delete";
            key?: string;
            "last-error"?: string;
            value?: string;
        };
        BPFMapList: {
            maps?: components["schemas"]["BPFMap"][];
        };
        BPFMapProperties: {
            name?: string;
            /**
             * @description Cellium's addition: how full the map was at its last count (entries / size, 0 to 1),
             *     as Cilium's bpf_map_pressure metric; absent for a map the agent does not count.
             */
            pressure?: number;
            size?: number;
        };
        BPFMapStatus: {
            "dynamic-size-ratio"?: number;
            maps?: components["schemas"]["BPFMapProperties"][];
        };
        CgroupContainerMetadata: {
            "cgroup-id"?: number;
            "cgroup-path"?: string;
        };
        CgroupDumpMetadata: {
            "pod-metadatas"?: components["schemas"]["CgroupPodMetadata"][];
        };
        CgroupPodMetadata: {
            containers?: components["schemas"]["CgroupContainerMetadata"][];
            ips?: string[];
            name?: string;
            namespace?: string;
        };
        CIDRPolicy: {
            egress?: components["schemas"]["PolicyRule"][];
            ingress?: components["schemas"]["PolicyRule"][];
        };
        ClockSource: {
            hertz?: number;
            /** @enum {string} */
            mode?: "ktime" | "jiffies";
        };
        ClusterMeshStatus: {
            clusters?: components["schemas"]["RemoteCluster"][];
            "num-global-services"?: number;
        };
        ClusterNodeStatus: {
            "client-id"?: number;
            "nodes-added"?: components["schemas"]["NodeElement"][];
            "nodes-removed"?: components["schemas"]["NodeElement"][];
            self?: string;
        };
        ClusterStatus: {
            ciliumHealth?: components["schemas"]["Status"];
            nodes?: components["schemas"]["NodeElement"][];
            self?: string;
        };
        CNIChainingStatus: {
            /** @enum {string} */
            mode?: "none" | "aws-cni" | "flannel" | "generic-veth" | "portmap";
        };
        ConfigurationMap: {
            [key: string]: string;
        };
        ControllerStatus: {
            configuration?: {
                "error-retry"?: boolean;
                "error-retry-base"?: string;
                interval?: string;
            };
            name?: string;
            status?: {
                "consecutive-failure-count"?: number;
                "failure-count"?: number;
                "last-failure-msg"?: string;
                /** Format: date-time */
                "last-failure-timestamp"?: string;
                /** Format: date-time */
                "last-success-timestamp"?: string;
                "success-count"?: number;
            };
            /** Format: uuid */
            uuid?: string;
        };
        ControllerStatuses: components["schemas"]["ControllerStatus"][];
        DaemonConfiguration: {
            spec?: components["schemas"]["DaemonConfigurationSpec"];
            status?: components["schemas"]["DaemonConfigurationStatus"];
        };
        DaemonConfigurationSpec: {
            options?: components["schemas"]["ConfigurationMap"];
            /** @enum {string} */
            "policy-enforcement"?: "default" | "always" | "never";
        };
        DaemonConfigurationStatus: {
            addressing?: components["schemas"]["NodeAddressing"];
            /** @description Every active setting of the agent, by flag name, with its typed value. */
            daemonConfigurationMap?: {
                [key: string]: unknown;
            };
            datapathMode?: components["schemas"]["DatapathMode"];
            deviceMTU?: number;
            "egress-multi-home-ip-rule-compat"?: boolean;
            enableRouteMTUForCNIChaining?: boolean;
            GROIPv4MaxSize?: number;
            GROMaxSize?: number;
            GSOIPv4MaxSize?: number;
            GSOMaxSize?: number;
            immutable?: components["schemas"]["ConfigurationMap"];
            "ipam-mode"?: string;
            /** @description Ports reserved in the workloads' network namespaces (comma-separated). */
            ipLocalReservedPorts?: string;
            "k8s-configuration"?: string;
            "k8s-endpoint"?: string;
            kvstoreConfiguration?: components["schemas"]["KVstoreConfiguration"];
            masquerade?: boolean;
            masqueradeProtocols?: {
                ipv4?: boolean;
                ipv6?: boolean;
            };
            nodeMonitor?: components["schemas"]["MonitorStatus"];
            realized?: components["schemas"]["DaemonConfigurationSpec"];
            routeMTU?: number;
        };
        /**
         * @description How endpoints are wired to the host.
         * @enum {string}
         */
        DatapathMode: "veth" | "netkit" | "netkit-l2";
        DebugInfo: {
            "cilium-memory-map"?: string;
            "cilium-nodemonitor-memory-map"?: string;
            "cilium-status"?: components["schemas"]["StatusResponse"];
            "cilium-version"?: string;
            encryption?: {
                wireguard?: components["schemas"]["WireguardStatus"];
            };
            "endpoint-list"?: components["schemas"]["Endpoint"][];
            "environment-variables"?: string[];
            "kernel-version"?: string;
            policy?: components["schemas"]["Policy"];
            "service-list"?: components["schemas"]["Service"][];
            subsystem?: {
                [key: string]: string;
            };
        };
        DNSLookup: {
            "endpoint-id"?: number;
            /** Format: date-time */
            "expiration-time"?: string;
            fqdn?: string;
            ips?: string[];
            /** Format: date-time */
            "lookup-time"?: string;
            source?: string;
            ttl?: number;
        };
        EncryptionStatus: {
            ipsec?: components["schemas"]["IPsecStatus"];
            /** @enum {string} */
            mode?: "Disabled" | "IPsec" | "Wireguard";
            msg?: string;
            wireguard?: components["schemas"]["WireguardStatus"];
        };
        Endpoint: {
            id?: number;
            spec?: components["schemas"]["EndpointConfigurationSpec"];
            status?: components["schemas"]["EndpointStatus"];
        };
        EndpointBatchDeleteRequest: {
            "container-id"?: string;
        };
        EndpointChangeRequest: {
            addressing?: components["schemas"]["AddressPair"];
            "container-id"?: string;
            "container-interface-name"?: string;
            "container-name"?: string;
            "datapath-configuration"?: components["schemas"]["EndpointDatapathConfiguration"];
            "datapath-map-id"?: number;
            "disable-legacy-identifiers"?: boolean;
            "docker-endpoint-id"?: string;
            "docker-network-id"?: string;
            "host-mac"?: string;
            id?: number;
            "interface-index"?: number;
            "interface-name"?: string;
            "k8s-namespace"?: string;
            "k8s-pod-name"?: string;
            "k8s-uid"?: string;
            labels?: string[];
            mac?: string;
            "netns-cookie"?: string;
            pid?: number;
            "policy-enabled"?: boolean;
            properties?: {
                [key: string]: unknown;
            };
            state: components["schemas"]["EndpointState"];
            "sync-build-endpoint"?: boolean;
        };
        EndpointConfigurationSpec: {
            "label-configuration"?: components["schemas"]["LabelConfigurationSpec"];
            options?: components["schemas"]["ConfigurationMap"];
        };
        EndpointConfigurationStatus: {
            error?: components["schemas"]["Error"];
            immutable?: components["schemas"]["ConfigurationMap"];
            realized?: components["schemas"]["EndpointConfigurationSpec"];
        };
        EndpointDatapathConfiguration: {
            "disable-sip-verification"?: boolean;
            "external-ipam"?: boolean;
            "install-endpoint-route"?: boolean;
            "require-arp-passthrough"?: boolean;
            "require-egress-prog"?: boolean;
            /** @default true */
            "require-routing"?: boolean;
        };
        EndpointHealth: {
            bpf?: components["schemas"]["EndpointHealthStatus"];
            connected?: boolean;
            overallHealth?: components["schemas"]["EndpointHealthStatus"];
            policy?: components["schemas"]["EndpointHealthStatus"];
        };
        /** @enum {string} */
        EndpointHealthStatus: "OK" | "Bootstrap" | "Pending" | "Warning" | "Failure" | "Disabled";
        EndpointIdentifiers: {
            "cni-attachment-id"?: string;
            "container-id"?: string;
            "container-name"?: string;
            "docker-endpoint-id"?: string;
            "docker-network-id"?: string;
            "k8s-namespace"?: string;
            "k8s-pod-name"?: string;
            "pod-name"?: string;
        };
        EndpointNetworking: {
            addressing?: components["schemas"]["AddressPair"][];
            "container-interface-name"?: string;
            "host-addressing"?: components["schemas"]["NodeAddressing"];
            "host-mac"?: string;
            "interface-index"?: number;
            "interface-name"?: string;
            mac?: string;
        };
        EndpointPolicy: {
            "allowed-egress-identities"?: number[];
            "allowed-ingress-identities"?: number[];
            build?: number;
            "cidr-policy"?: components["schemas"]["CIDRPolicy"];
            "denied-egress-identities"?: number[];
            "denied-ingress-identities"?: number[];
            id?: number;
            l4?: components["schemas"]["L4Policy"];
            "policy-enabled"?: components["schemas"]["EndpointPolicyEnabled"];
            "policy-revision"?: number;
        };
        /**
         * @description Which directions policy is enforced in (audit-* report drops but let them pass).
         * @enum {string}
         */
        EndpointPolicyEnabled: "none" | "ingress" | "egress" | "both" | "audit-ingress" | "audit-egress" | "audit-both";
        EndpointPolicyStatus: {
            "proxy-policy-revision"?: number;
            "proxy-statistics"?: components["schemas"]["ProxyStatistics"][];
            realized?: components["schemas"]["EndpointPolicy"];
            spec?: components["schemas"]["EndpointPolicy"];
        };
        /** @enum {string} */
        EndpointState: "waiting-for-identity" | "not-ready" | "waiting-to-regenerate" | "regenerating" | "restoring" | "ready" | "disconnecting" | "disconnected" | "invalid";
        EndpointStatus: {
            controllers?: components["schemas"]["ControllerStatuses"];
            "external-identifiers"?: components["schemas"]["EndpointIdentifiers"];
            health?: components["schemas"]["EndpointHealth"];
            identity?: components["schemas"]["Identity"];
            labels?: components["schemas"]["LabelConfigurationStatus"];
            log?: components["schemas"]["EndpointStatusLog"];
            namedPorts?: components["schemas"]["NamedPorts"];
            networking?: components["schemas"]["EndpointNetworking"];
            policy?: components["schemas"]["EndpointPolicyStatus"];
            realized?: components["schemas"]["EndpointConfigurationSpec"];
            state: components["schemas"]["EndpointState"];
        };
        EndpointStatusChange: {
            /** @enum {string} */
            code?: "ok" | "failed";
            message?: string;
            state?: components["schemas"]["EndpointState"];
            timestamp?: string;
        };
        EndpointStatusLog: components["schemas"]["EndpointStatusChange"][];
        Error: string;
        /** @description A feature that is on or off (Cellium's name for Cilium's inline `{enabled}` objects). */
        FeatureToggle: {
            enabled?: boolean;
        };
        FrontendAddress: {
            ip?: string;
            port?: number;
            /** @enum {string} */
            protocol?: "tcp" | "udp" | "any";
            /** @enum {string} */
            scope?: "external" | "internal";
        };
        FrontendMapping: {
            backends?: components["schemas"]["LRPBackend"][];
            "frontend-address"?: components["schemas"]["FrontendAddress"];
        };
        HostFirewall: {
            devices?: string[];
            /** @enum {string} */
            mode?: "Disabled" | "Enabled";
        };
        HubbleStatus: {
            metrics?: {
                /** @enum {string} */
                state?: "Ok" | "Warning" | "Failure" | "Disabled";
            };
            msg?: string;
            observer?: {
                "current-flows"?: number;
                "max-flows"?: number;
                "seen-flows"?: number;
                /** @description A Go-style duration */
                uptime?: string;
            };
            /** @enum {string} */
            state?: "Ok" | "Warning" | "Failure" | "Disabled";
        };
        Identity: {
            id?: number;
            labels?: components["schemas"]["Labels"];
            labelsSHA256?: string;
        };
        IdentityEndpoints: {
            identity?: components["schemas"]["Identity"];
            refCount?: number;
        };
        IdentityRange: {
            "max-identity"?: number;
            "min-identity"?: number;
        };
        IPAMAddressResponse: {
            cidrs?: string[];
            "expiration-uuid"?: string;
            gateway?: string;
            "interface-number"?: string;
            ip?: string;
            "master-mac"?: string;
        };
        IPAMResponse: {
            address: components["schemas"]["AddressPair"];
            "host-addressing": components["schemas"]["NodeAddressing"];
            ipv4?: components["schemas"]["IPAMAddressResponse"];
            ipv6?: components["schemas"]["IPAMAddressResponse"];
        };
        IPAMStatus: {
            allocations?: components["schemas"]["AllocationMap"];
            ipv4?: string[];
            ipv6?: string[];
            status?: string;
        };
        IPListEntry: {
            cidr: string;
            encryptKey?: number;
            hostIP?: string;
            identity: number;
            metadata?: components["schemas"]["IPListEntryMetadata"];
        };
        IPListEntryMetadata: {
            name?: string;
            namespace?: string;
            source?: string;
        };
        IPsecStatus: {
            "decrypt-interfaces"?: string[];
            "error-count"?: number;
            "keys-in-use"?: number;
            "max-seq-number"?: string;
            "xfrm-errors"?: {
                [key: string]: number;
            };
        };
        IPV4BigTCP: {
            enabled?: boolean;
            maxGRO?: number;
            maxGSO?: number;
        };
        IPV6BigTCP: {
            enabled?: boolean;
            maxGRO?: number;
            maxGSO?: number;
        };
        K8sStatus: {
            "k8s-api-versions"?: string[];
            msg?: string;
            /** @enum {string} */
            state?: "Ok" | "Warning" | "Failure" | "Disabled";
        };
        KubeProxyReplacement: {
            deviceList?: components["schemas"]["KubeProxyReplacementDevice"][];
            devices?: string[];
            directRoutingDevice?: string;
            features?: components["schemas"]["KubeProxyReplacementFeatures"];
            /** @enum {string} */
            mode?: "True" | "False";
        };
        KubeProxyReplacementDevice: {
            ip?: string[];
            name?: string;
        };
        /** @description Each service feature; when kube-proxy replacement is off every one is present and disabled. */
        KubeProxyReplacementFeatures: {
            bpfSocketLBHostnsOnly?: boolean;
            externalIPs?: components["schemas"]["FeatureToggle"];
            gracefulTermination?: components["schemas"]["FeatureToggle"];
            hostPort?: components["schemas"]["FeatureToggle"];
            hostReachableServices?: {
                enabled?: boolean;
                protocols?: string[];
            };
            nat46X64?: {
                enabled?: boolean;
                gateway?: {
                    enabled?: boolean;
                    prefixes?: string[];
                };
                service?: components["schemas"]["FeatureToggle"];
            };
            nodePort?: {
                /** @enum {string} */
                acceleration?: "None" | "Native" | "Generic" | "Best-Effort";
                /** @enum {string} */
                algorithm?: "Random" | "Maglev";
                /** @enum {string} */
                dsrMode?: "IP Option/Extension" | "IPIP" | "Geneve";
                enabled?: boolean;
                lutSize?: number;
                /** @enum {string} */
                mode?: "SNAT" | "DSR" | "Hybrid";
                portMax?: number;
                portMin?: number;
            };
            sessionAffinity?: components["schemas"]["FeatureToggle"];
            socketLB?: components["schemas"]["FeatureToggle"];
            socketLBTracing?: components["schemas"]["FeatureToggle"];
        };
        KVstoreConfiguration: {
            options?: {
                [key: string]: string;
            };
            type?: string;
        };
        L4Policy: {
            egress?: components["schemas"]["PolicyRule"][];
            ingress?: components["schemas"]["PolicyRule"][];
        };
        Label: {
            key?: string;
            source?: string;
            value?: string;
        };
        LabelArray: components["schemas"]["Label"][];
        LabelConfiguration: {
            spec?: components["schemas"]["LabelConfigurationSpec"];
            status?: components["schemas"]["LabelConfigurationStatus"];
        };
        LabelConfigurationSpec: {
            user?: string[];
        };
        LabelConfigurationStatus: {
            derived?: components["schemas"]["Labels"];
            disabled?: components["schemas"]["Labels"];
            realized?: components["schemas"]["LabelConfigurationSpec"];
            "security-relevant"?: components["schemas"]["Labels"];
        };
        Labels: string[];
        LRPBackend: {
            "backend-address"?: components["schemas"]["BackendAddress"];
            "pod-id"?: string;
        };
        LRPSpec: {
            "frontend-mappings"?: components["schemas"]["FrontendMapping"][];
            "frontend-type"?: string;
            "lrp-type"?: string;
            name?: string;
            namespace?: string;
            "service-id"?: string;
            uid?: string;
        };
        /**
         * @description One write or delete of a map entry by its owner, successful or not: an update that
         *     succeeded has desired action `ok`, one that failed `insert` with `last-error`; a delete
         *     has desired action `delete` (with `last-error` when it failed), as in Cilium.
         *     `last-error` is absent when there was none (Cilium writes "<nil>").
         */
        MapEvent: {
            /** @enum {string} */
            action?: "update" | "delete";
            /** @enum {string} */
            "desired-action"?: "ok" | "insert" | "delete";
            key?: string;
            "last-error"?: string;
            /** Format: date-time */
            timestamp?: string;
            value?: string;
        };
        Masquerading: {
            enabled?: boolean;
            enabledProtocols?: {
                ipv4?: boolean;
                ipv6?: boolean;
            };
            "ip-masq-agent"?: boolean;
            /** @enum {string} */
            mode?: "BPF" | "iptables";
            /** @description Obsolete; the -v4 and -v6 fields replace it */
            "snat-exclusion-cidr"?: string;
            "snat-exclusion-cidr-v4"?: string;
            "snat-exclusion-cidr-v6"?: string;
        };
        MessageForwardingStatistics: {
            denied?: number;
            error?: number;
            forwarded?: number;
            received?: number;
        };
        Metric: {
            labels?: {
                [key: string]: string;
            };
            name?: string;
            value?: number;
        };
        ModuleHealth: {
            count?: number;
            error?: string;
            /** Format: date-time */
            "last-ok"?: string;
            /** Format: date-time */
            "last-updated"?: string;
            /** @enum {string} */
            level?: "ok" | "degraded" | "stopped";
            message?: string;
            "module-id"?: string;
        };
        /** @description Cellium extension. The health of every cell, as reported to the hive. */
        ModulesHealth: {
            modules?: components["schemas"]["ModuleHealth"][];
        };
        /** @description The node monitor (datapath events to the agent). */
        MonitorStatus: {
            cpus?: number;
            lost?: number;
            npages?: number;
            pagesize?: number;
            unknown?: number;
        };
        NamedPorts: components["schemas"]["Port"][];
        NameManager: {
            DNSPollNames?: string[];
            FQDNPolicySelectors?: {
                regexString?: string;
                selectorString?: string;
            }[];
        };
        NodeAddressing: {
            ipv4?: components["schemas"]["NodeAddressingElement"];
            ipv6?: components["schemas"]["NodeAddressingElement"];
        };
        NodeAddressingElement: {
            "address-type"?: string;
            "alloc-range"?: string;
            enabled?: boolean;
            ip?: string;
        };
        NodeElement: {
            "health-endpoint-address"?: components["schemas"]["NodeAddressing"];
            "ingress-address"?: components["schemas"]["NodeAddressing"];
            name?: string;
            "primary-address"?: components["schemas"]["NodeAddressing"];
            "secondary-addresses"?: components["schemas"]["NodeAddressingElement"][];
            source?: string;
        };
        NodeID: {
            id: number;
            ips: string[];
        };
        Policy: {
            policy?: string;
            revision?: number;
        };
        PolicyRule: {
            "derived-from-rules"?: string[][];
            rule?: string;
            "rules-by-selector"?: {
                [key: string]: string[][];
            };
        };
        PolicyTraceResult: {
            log?: string;
            verdict?: string;
        };
        Port: {
            name?: string;
            port?: number;
            /** @enum {string} */
            protocol?: "TCP" | "UDP" | "SCTP" | "ICMP" | "ICMPV6" | "ANY";
        };
        /** @description The XDP prefilter's deny list */
        Prefilter: {
            spec?: components["schemas"]["PrefilterSpec"];
            status?: components["schemas"]["PrefilterStatus"];
        };
        /** @description CIDRs to deny, and the revision a change is based on (0 or absent for any) */
        PrefilterSpec: {
            deny?: string[];
            revision?: number;
        };
        /** @description The deny list in effect in the datapath */
        PrefilterStatus: {
            realized?: components["schemas"]["PrefilterSpec"];
        };
        ProxyRedirect: {
            name?: string;
            proxy?: string;
            "proxy-port"?: number;
        };
        ProxyStatistics: {
            "allocated-proxy-port"?: number;
            /** @enum {string} */
            location?: "ingress" | "egress";
            port?: number;
            protocol?: string;
            statistics?: components["schemas"]["RequestResponseStatistics"];
        };
        ProxyStatus: {
            /** @enum {string} */
            "envoy-deployment-mode"?: "embedded" | "external";
            ip?: string;
            "port-range"?: string;
            redirects?: components["schemas"]["ProxyRedirect"][];
            "total-ports"?: number;
            "total-redirects"?: number;
        };
        RemoteCluster: {
            config?: components["schemas"]["RemoteClusterConfig"];
            connected?: boolean;
            /** Format: date-time */
            "last-failure"?: string;
            name?: string;
            "num-endpoints"?: number;
            "num-failures"?: number;
            "num-identities"?: number;
            "num-nodes"?: number;
            "num-service-exports"?: number;
            "num-shared-services"?: number;
            ready?: boolean;
            status?: string;
            synced?: components["schemas"]["RemoteClusterSynced"];
        };
        RemoteClusterConfig: {
            "cluster-id"?: number;
            kvstoremesh?: boolean;
            required?: boolean;
            retrieved?: boolean;
            "service-exports-enabled"?: boolean | null;
            "sync-canaries"?: boolean;
        };
        RemoteClusterSynced: {
            endpoints?: boolean;
            identities?: boolean;
            nodes?: boolean;
            "service-exports"?: boolean | null;
            services?: boolean;
        };
        RequestResponseStatistics: {
            requests?: components["schemas"]["MessageForwardingStatistics"];
            responses?: components["schemas"]["MessageForwardingStatistics"];
        };
        Routing: {
            /** @enum {string} */
            "inter-host-routing-mode"?: "Native" | "Tunnel";
            /** @enum {string} */
            "intra-host-routing-mode"?: "BPF" | "Legacy";
            "tunnel-protocol"?: string;
        };
        SelectorCache: components["schemas"]["SelectorIdentityMapping"][];
        SelectorIdentityMapping: {
            identities?: number[];
            labels?: components["schemas"]["LabelArray"];
            selector?: string;
            users?: number;
        };
        Service: {
            spec?: components["schemas"]["ServiceSpec"];
            status?: components["schemas"]["ServiceStatus"];
        };
        ServiceSpec: {
            "backend-addresses"?: components["schemas"]["BackendAddress"][];
            flags?: {
                /**
                 * @description Cellium extension - this service's backend selection, over --bpf-lb-algorithm
                 * @enum {string}
                 */
                algorithm?: "Random" | "Maglev";
                cluster?: string;
                /** @enum {string} */
                extTrafficPolicy?: "Cluster" | "Local";
                healthCheckNodePort?: number;
                /** @enum {string} */
                intTrafficPolicy?: "Cluster" | "Local";
                /** @description Cellium extension (Kubernetes' loadBalancerSourceRanges) - the CIDRs allowed to reach a LoadBalancer service from outside */
                loadBalancerSourceRanges?: string[];
                name?: string;
                namespace?: string;
                /** @enum {string} */
                natPolicy?: "None" | "Nat46" | "Nat64";
                /** @description Cellium extension (Kubernetes' sessionAffinity ClientIP) - a client keeps its backend */
                sessionAffinity?: boolean;
                /** @description Cellium extension - seconds a client keeps its backend (Kubernetes' default 10800) */
                sessionAffinityTimeout?: number;
                /** @enum {string} */
                trafficPolicy?: "Cluster" | "Local";
                /** @enum {string} */
                type?: "ClusterIP" | "NodePort" | "ExternalIPs" | "HostPort" | "LoadBalancer" | "LocalRedirect";
            };
            "frontend-address": components["schemas"]["FrontendAddress"];
            id?: number;
            updateServices?: boolean;
        };
        ServiceStatus: {
            realized?: components["schemas"]["ServiceSpec"];
        };
        Srv6: {
            enabled?: boolean;
            /** @enum {string} */
            srv6EncapMode?: "SRH" | "Reduced";
        };
        Status: {
            msg?: string;
            /** @enum {string} */
            state?: "Ok" | "Warning" | "Failure" | "Disabled";
        };
        /**
         * @description Health and status of the agent and of each of its subsystems (Cilium's model). Every
         *     part is present; a feature that is off reports its disabled form.
         */
        StatusResponse: {
            "attach-mode"?: components["schemas"]["AttachMode"];
            "auth-certificate-provider"?: components["schemas"]["Status"];
            "bandwidth-manager"?: components["schemas"]["BandwidthManager"];
            bgp?: components["schemas"]["Status"];
            "bpf-maps"?: components["schemas"]["BPFMapStatus"];
            cilium?: components["schemas"]["Status"];
            "client-id"?: number;
            "clock-source"?: components["schemas"]["ClockSource"];
            cluster?: components["schemas"]["ClusterStatus"];
            "cluster-mesh"?: components["schemas"]["ClusterMeshStatus"];
            "cni-chaining"?: components["schemas"]["CNIChainingStatus"];
            "cni-file"?: components["schemas"]["Status"];
            "container-runtime"?: components["schemas"]["Status"];
            controllers?: components["schemas"]["ControllerStatuses"];
            "datapath-mode"?: components["schemas"]["DatapathMode"];
            encryption?: components["schemas"]["EncryptionStatus"];
            "host-firewall"?: components["schemas"]["HostFirewall"];
            hubble?: components["schemas"]["HubbleStatus"];
            "identity-range"?: components["schemas"]["IdentityRange"];
            ipam?: components["schemas"]["IPAMStatus"];
            "ipv4-big-tcp"?: components["schemas"]["IPV4BigTCP"];
            "ipv6-big-tcp"?: components["schemas"]["IPV6BigTCP"];
            "kube-proxy-replacement"?: components["schemas"]["KubeProxyReplacement"];
            kubernetes?: components["schemas"]["K8sStatus"];
            kvstore?: components["schemas"]["Status"];
            masquerading?: components["schemas"]["Masquerading"];
            "modules-health"?: components["schemas"]["ModulesHealth"];
            nodeMonitor?: components["schemas"]["MonitorStatus"];
            proxy?: components["schemas"]["ProxyStatus"];
            routing?: components["schemas"]["Routing"];
            srv6?: components["schemas"]["Srv6"];
            /** @description When each probe that has not answered yet was started, by probe name. */
            stale?: {
                [key: string]: string;
            };
        };
        TraceFrom: {
            labels?: components["schemas"]["Labels"];
        };
        /** @description The context of a policy trace (GET /policy/resolve) */
        TraceSelector: {
            from?: components["schemas"]["TraceFrom"];
            to?: components["schemas"]["TraceTo"];
            verbose?: boolean;
        };
        TraceTo: {
            dports?: components["schemas"]["Port"][];
            labels?: components["schemas"]["Labels"];
        };
        WireguardInterface: {
            "listen-port"?: number;
            name?: string;
            "peer-count"?: number;
            peers?: components["schemas"]["WireguardPeer"][];
            "public-key"?: string;
        };
        WireguardPeer: {
            "allowed-ips"?: string[];
            endpoint?: string;
            /** Format: date-time */
            "last-handshake-time"?: string;
            "public-key"?: string;
            "transfer-rx"?: number;
            "transfer-tx"?: number;
        };
        WireguardStatus: {
            interfaces?: components["schemas"]["WireguardInterface"][];
            "node-encryption"?: string;
        };
    };
    responses: {
        /** @description The request is invalid; the message names the field and the rule */
        BadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Already exists */
        Conflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The feature (or address family) is disabled */
        Disabled: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The operation failed; details in the message */
        Failure: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Invalid CIDR prefix; the message quotes it and says what is wrong */
        InvalidCIDR: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Invalid identity format in storage */
        InvalidStorageFormat: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Not found */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The prefilter is off; the message says how to turn it on (--prefilter-device) */
        PrefilterDisabled: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /**
         * @description The request names a revision that is not the current one (Cilium answers 500); read the
         *     current state again and retry
         */
        StaleRevision: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Rate limited */
        TooManyRequests: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The agent is still restoring its state; retry after the Retry-After header */
        Unavailable: {
            headers: {
                /** @description Seconds to wait */
                "Retry-After"?: number;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Identity storage unreachable */
        Unreachable: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
    };
    parameters: {
        Cidr: string;
        /**
         * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
         *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
         *     ns:name), cep-name, docker-endpoint.
         */
        EndpointID: string;
        /** @description An IP address (or, for DELETE, an owner) */
        IpamIP: string;
        IpamOwner: string;
        IpamPool: string;
        MapName: string;
        MatchPattern: string;
        ServiceID: number;
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    GetBgpPeers: {
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
                    "application/json": components["schemas"]["BgpPeer"][];
                };
            };
            500: components["responses"]["Failure"];
            501: components["responses"]["Disabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetBgpRoutePolicies: {
        parameters: {
            query?: {
                router_asn?: number;
            };
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
                    "application/json": components["schemas"]["BgpRoutePolicy"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            500: components["responses"]["Failure"];
            501: components["responses"]["Disabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetBgpRoutes: {
        parameters: {
            query: {
                afi: string;
                neighbor?: string;
                router_asn?: number;
                safi: string;
                table_type: "loc-rib" | "adj-rib-in" | "adj-rib-out";
            };
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
                    "application/json": components["schemas"]["BgpRoute"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            500: components["responses"]["Failure"];
            501: components["responses"]["Disabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetCgroupDumpMetadata: {
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
                    "application/json": components["schemas"]["CgroupDumpMetadata"];
                };
            };
            500: components["responses"]["Failure"];
        };
    };
    GetClusterNodes: {
        parameters: {
            query?: never;
            header?: {
                "client-id"?: number;
            };
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
                    "application/json": components["schemas"]["ClusterNodeStatus"];
                };
            };
            400: components["responses"]["BadRequest"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetConfig: {
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
                    "application/json": components["schemas"]["DaemonConfiguration"];
                };
            };
        };
    };
    PatchConfig: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["DaemonConfigurationSpec"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            500: components["responses"]["Failure"];
        };
    };
    GetDebuginfo: {
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
                    "application/json": components["schemas"]["DebugInfo"];
                };
            };
            500: components["responses"]["Failure"];
        };
    };
    GetEndpoint: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["Labels"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Endpoint"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    DeleteEndpoint: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointBatchDeleteRequest"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Deleted with a number of errors */
            206: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": number;
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetEndpointID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["Endpoint"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    PutEndpointID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointChangeRequest"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Endpoint"];
                };
            };
            400: components["responses"]["BadRequest"];
            409: components["responses"]["Conflict"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    DeleteEndpointID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Deleted with a number of errors */
            206: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": number;
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    PatchEndpointID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointChangeRequest"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetEndpointIDConfig: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["EndpointConfigurationStatus"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    PatchEndpointIDConfig: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointConfigurationSpec"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetEndpointIDHealthz: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["EndpointHealth"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    GetEndpointIDLabels: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["LabelConfiguration"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    PatchEndpointIDLabels: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["LabelConfigurationSpec"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetEndpointIDLog: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["EndpointStatusLog"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    GetFqdnCache: {
        parameters: {
            query?: {
                cidr?: components["parameters"]["Cidr"];
                matchpattern?: components["parameters"]["MatchPattern"];
                source?: string;
            };
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
                    "application/json": components["schemas"]["DNSLookup"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    DeleteFqdnCache: {
        parameters: {
            query?: {
                matchpattern?: components["parameters"]["MatchPattern"];
            };
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
                content?: never;
            };
            400: components["responses"]["BadRequest"];
        };
    };
    GetFqdnCacheID: {
        parameters: {
            query?: {
                cidr?: components["parameters"]["Cidr"];
                matchpattern?: components["parameters"]["MatchPattern"];
                source?: string;
            };
            header?: never;
            path: {
                /**
                 * @description `[prefix:]id`; without a prefix `cilium-local:` is assumed. Prefixes: cilium-local,
                 *     cilium-global, cni-attachment-id, container-id, container-name, pod-name (ns/name or
                 *     ns:name), cep-name, docker-endpoint.
                 */
                id: components["parameters"]["EndpointID"];
            };
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
                    "application/json": components["schemas"]["DNSLookup"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    GetFqdnNames: {
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
                    "application/json": components["schemas"]["NameManager"];
                };
            };
            400: components["responses"]["BadRequest"];
        };
    };
    GetHealthz: {
        parameters: {
            query?: never;
            header?: {
                /** @description Only the overall state. */
                brief?: boolean;
            };
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
                    "application/json": components["schemas"]["StatusResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
        };
    };
    GetIdentity: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["Labels"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Identity"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            520: components["responses"]["Unreachable"];
            521: components["responses"]["InvalidStorageFormat"];
        };
    };
    GetIdentityID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Numeric security identity */
                id: string;
            };
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
                    "application/json": components["schemas"]["Identity"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            520: components["responses"]["Unreachable"];
            521: components["responses"]["InvalidStorageFormat"];
        };
    };
    GetIdentityEndpoints: {
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
                    "application/json": components["schemas"]["IdentityEndpoints"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    GetIP: {
        parameters: {
            query?: {
                cidr?: components["parameters"]["Cidr"];
                labels?: string[];
            };
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
                    "application/json": components["schemas"]["IPListEntry"][];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    PostIpam: {
        parameters: {
            query?: {
                family?: "ipv4" | "ipv6";
                owner?: components["parameters"]["IpamOwner"];
                pool?: components["parameters"]["IpamPool"];
            };
            header?: {
                expiration?: boolean;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["IPAMResponse"];
                };
            };
            400: components["responses"]["BadRequest"];
            /** @description Allocation failure */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            503: components["responses"]["Unavailable"];
        };
    };
    PostIpamIP: {
        parameters: {
            query?: {
                owner?: components["parameters"]["IpamOwner"];
                pool?: components["parameters"]["IpamPool"];
            };
            header?: never;
            path: {
                /** @description An IP address (or, for DELETE, an owner) */
                ip: components["parameters"]["IpamIP"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            409: components["responses"]["Conflict"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    DeleteIpamIP: {
        parameters: {
            query?: {
                pool?: components["parameters"]["IpamPool"];
            };
            header?: never;
            path: {
                /** @description An IP address (or, for DELETE, an owner) */
                ip: components["parameters"]["IpamIP"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetLrp: {
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
                    "application/json": components["schemas"]["LRPSpec"][];
                };
            };
        };
    };
    GetMap: {
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
                    "application/json": components["schemas"]["BPFMapList"];
                };
            };
        };
    };
    GetMapName: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: components["parameters"]["MapName"];
            };
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
                    "application/json": components["schemas"]["BPFMap"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    GetMapNameEvents: {
        parameters: {
            query?: {
                /** @description Keep the stream open and send new events as they happen */
                follow?: boolean;
            };
            header?: never;
            path: {
                name: components["parameters"]["MapName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A stream of MapEvent objects, one JSON object per line */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": string;
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManyRequests"];
        };
    };
    GetMetrics: {
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
                    "application/json": components["schemas"]["Metric"][];
                };
            };
            500: components["responses"]["Failure"];
        };
    };
    GetNodeIds: {
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
                    "application/json": components["schemas"]["NodeID"][];
                };
            };
            503: components["responses"]["Unavailable"];
        };
    };
    GetPolicy: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["Labels"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Policy"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    PutPolicy: {
        parameters: {
            query?: {
                replace?: boolean;
                "replace-with-labels"?: string[];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": string;
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Policy"];
                };
            };
            400: components["responses"]["BadRequest"];
            /** @description Invalid path */
            460: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            500: components["responses"]["Failure"];
        };
    };
    DeletePolicy: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["Labels"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Policy"];
                };
            };
            400: components["responses"]["BadRequest"];
            /** @description Forbidden (every matching rule comes from a Kubernetes object; change it there) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            404: components["responses"]["NotFound"];
            500: components["responses"]["Failure"];
        };
    };
    GetPolicyResolve: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["TraceSelector"];
            };
        };
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PolicyTraceResult"];
                };
            };
            400: components["responses"]["BadRequest"];
        };
    };
    GetPolicySelectors: {
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
                    "application/json": components["schemas"]["SelectorCache"];
                };
            };
        };
    };
    GetPrefilter: {
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
                    "application/json": components["schemas"]["Prefilter"];
                };
            };
            500: components["responses"]["Failure"];
            501: components["responses"]["PrefilterDisabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    DeletePrefilter: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PrefilterSpec"];
            };
        };
        responses: {
            /** @description Deleted */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Prefilter"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["StaleRevision"];
            461: components["responses"]["InvalidCIDR"];
            500: components["responses"]["Failure"];
            501: components["responses"]["PrefilterDisabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    PatchPrefilter: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PrefilterSpec"];
            };
        };
        responses: {
            /** @description Updated */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Prefilter"];
                };
            };
            400: components["responses"]["BadRequest"];
            409: components["responses"]["StaleRevision"];
            461: components["responses"]["InvalidCIDR"];
            500: components["responses"]["Failure"];
            501: components["responses"]["PrefilterDisabled"];
            503: components["responses"]["Unavailable"];
        };
    };
    GetService: {
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
                    "application/json": components["schemas"]["Service"][];
                };
            };
        };
    };
    GetServiceID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["ServiceID"];
            };
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
                    "application/json": components["schemas"]["Service"];
                };
            };
            400: components["responses"]["BadRequest"];
            404: components["responses"]["NotFound"];
        };
    };
    PutServiceID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["ServiceID"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ServiceSpec"];
            };
        };
        responses: {
            /** @description Updated */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            /** @description Invalid frontend */
            460: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid backend */
            461: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            500: components["responses"]["Failure"];
            /** @description Updating backend states failed */
            501: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            503: components["responses"]["Unavailable"];
        };
    };
    DeleteServiceID: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: components["parameters"]["ServiceID"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Success */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            /** @description Forbidden (the service comes from Kubernetes; change it there) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            404: components["responses"]["NotFound"];
            500: components["responses"]["Failure"];
            503: components["responses"]["Unavailable"];
        };
    };
}
