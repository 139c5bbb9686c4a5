using System.Text.Json;
using TaskRunner.Tests.Harness;
using Xunit;

namespace TaskRunner.Deploy;

/// <summary>
/// The manifests in deploy/ are valid Kubernetes objects (checked offline against the API schemas by
/// deploy/validate-manifests.sh) and say what a production deployment of this service needs. The schema check catches
/// wrong types, missing required fields and unknown kinds but not unknown field names, so each rule a typo could
/// silently drop (a misspelt probe, a securityContext at the wrong level) is asserted here by its path.
/// </summary>
public sealed class KubernetesManifestsTests
{
    private const string Validator = "deploy/validate-manifests.sh";
    private static readonly Lazy<Task<IReadOnlyList<(string File, JsonElement Object)>>> Manifests = new(LoadAsync);

    private static async Task<IReadOnlyList<(string File, JsonElement Object)>> LoadAsync()
    {
        var result = await Scripts.ExecuteAsync(Validator, "--json");
        Assert.True(result.ExitCode == 0, $"the manifests do not validate:\n{result.Error}");
        return JsonDocument.Parse(result.Output).RootElement.EnumerateArray()
            .Select(entry => (entry.GetProperty("file").GetString()!, entry.GetProperty("object").Clone()))
            .ToList();
    }

    private static async Task<JsonElement> SingleAsync(string kind, string? name = null, string file = "") =>
        Assert.Single(await Manifests.Value, entry => entry.Object.GetProperty("kind").GetString() == kind
            && (name is null || entry.Object.GetProperty("metadata").GetProperty("name").GetString() == name)
            && (file.Length == 0 || entry.File == file)).Object;

    private static JsonElement At(JsonElement element, string path) =>
        path.Split('.').Aggregate(element, (current, name) =>
            current.TryGetProperty(name, out var next) ? next : throw new Xunit.Sdk.XunitException($"missing {name} in {path}"));

    private static async Task<JsonElement> ServiceContainerAsync()
    {
        var containers = At(await SingleAsync("Deployment", "taskrunner"), "spec.template.spec.containers");
        return Assert.Single(containers.EnumerateArray(), container => container.GetProperty("name").GetString() == "taskrunner");
    }

    private static async Task<int> ConfigNumberAsync(string key) =>
        int.Parse(At(await SingleAsync("ConfigMap", "taskrunner-config"), "data." + key).GetString()!);

    [Fact]
    public async Task EveryManifestMatchesTheKubernetesSchemas()
    {
        var manifests = await Manifests.Value;

        var kinds = manifests.Select(entry => entry.Object.GetProperty("kind").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "NetworkPolicy", "Job", "Secret" }, kinds);
    }

    [Fact]
    public async Task TheValidatorRejectsAManifestThatBreaksTheSchema()
    {
        var file = Path.Combine(Path.GetTempPath(), $"invalid-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: broken
            spec:
              selector:
                matchLabels: {app: broken}
              template:
                metadata:
                  labels: {app: broken}
                spec:
                  terminationGracePeriodSeconds: sixty
                  containers:
                    - name: broken
                      image: broken
                      resources:
                        limits:
                          memory: 256 megabytes
            """);
        try
        {
            var result = await Scripts.ExecuteAsync(Validator, file);

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("/spec/template/spec/terminationGracePeriodSeconds must be integer", result.Error);
            Assert.Contains("/spec/template/spec/containers/0/resources/limits/memory", result.Error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task PodsGetSixtySecondsToPauseDrainAndFinishTheirRequests()
    {
        var deployment = await SingleAsync("Deployment", "taskrunner");
        var container = await ServiceContainerAsync();

        var grace = At(deployment, "spec.template.spec.terminationGracePeriodSeconds").GetInt32();
        var preStopSleep = At(container, "lifecycle.preStop.sleep.seconds").GetInt32();
        var budget = preStopSleep + await ConfigNumberAsync("Shutdown__DrainDelaySeconds") + await ConfigNumberAsync("Shutdown__TimeoutSeconds");
        Assert.Equal(60, grace);
        Assert.InRange(preStopSleep, 1, 10);
        Assert.True(budget < grace, $"preStop + drain delay + request timeout ({budget} s) must end before SIGKILL ({grace} s)");
    }

    [Fact]
    public async Task ProbesSeparateLivenessFromReadiness()
    {
        var container = await ServiceContainerAsync();

        Assert.Equal("/health/live", At(container, "startupProbe.httpGet.path").GetString());
        Assert.Equal("/health/live", At(container, "livenessProbe.httpGet.path").GetString());
        Assert.Equal("/health/ready", At(container, "readinessProbe.httpGet.path").GetString());
        foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            Assert.Equal("http", At(container, probe + ".httpGet.port").GetString());
        Assert.Contains(At(container, "ports").EnumerateArray(),
            port => port.GetProperty("name").GetString() == "http" && port.GetProperty("containerPort").GetInt32() == 8080);
    }

    [Fact]
    public async Task EveryContainerRunsNonRootOnAReadOnlyFileSystemWithoutCapabilities()
    {
        var podSpecs = new[]
        {
            At(await SingleAsync("Deployment", "taskrunner"), "spec.template.spec"),
            At(await SingleAsync("Job"), "spec.template.spec"),
        };

        foreach (var pod in podSpecs)
        {
            Assert.True(At(pod, "securityContext.runAsNonRoot").GetBoolean());
            Assert.NotEqual(0, At(pod, "securityContext.runAsUser").GetInt32());
            Assert.Equal("RuntimeDefault", At(pod, "securityContext.seccompProfile.type").GetString());
            Assert.False(At(pod, "automountServiceAccountToken").GetBoolean());
            var containers = At(pod, "containers").EnumerateArray()
                .Concat(pod.TryGetProperty("initContainers", out var init) ? init.EnumerateArray().ToList() : []);
            foreach (var container in containers)
            {
                Assert.True(At(container, "securityContext.readOnlyRootFilesystem").GetBoolean());
                Assert.False(At(container, "securityContext.allowPrivilegeEscalation").GetBoolean());
                Assert.Equal(new[] { "ALL" }, At(container, "securityContext.capabilities.drop").EnumerateArray().Select(c => c.GetString()));
                Assert.True(At(container, "resources.requests").TryGetProperty("memory", out _));
                Assert.True(At(container, "resources.requests").TryGetProperty("cpu", out _));
                Assert.True(At(container, "resources.limits").TryGetProperty("memory", out _));
            }
        }
    }

    [Fact]
    public async Task TheMigratorRunsBeforeTheServiceStarts()
    {
        var initContainers = At(await SingleAsync("Deployment", "taskrunner"), "spec.template.spec.initContainers");

        var migrate = Assert.Single(initContainers.EnumerateArray());
        Assert.Equal("taskrunner-migrator", migrate.GetProperty("image").GetString());
        Assert.Equal("taskrunner-migrator", At(await SingleAsync("Job"), "spec.template.spec.containers").EnumerateArray().Single()
            .GetProperty("image").GetString()!.Split('/')[^1].Split(':')[0]);
    }

    [Fact]
    public async Task TheFileSystemAttachmentStoreIsAWritableVolumeSharedByEveryPod()
    {
        var pod = At(await SingleAsync("Deployment", "taskrunner"), "spec.template.spec");
        var path = At(await SingleAsync("ConfigMap", "taskrunner-config"), "data.Attachments__FileSystemPath").GetString();

        var mount = Assert.Single(At(await ServiceContainerAsync(), "volumeMounts").EnumerateArray(),
            mount => mount.GetProperty("mountPath").GetString() == path);
        Assert.False(mount.TryGetProperty("readOnly", out var readOnly) && readOnly.GetBoolean());
        var volume = Assert.Single(At(pod, "volumes").EnumerateArray(),
            volume => volume.GetProperty("name").GetString() == mount.GetProperty("name").GetString());
        var claim = await SingleAsync("PersistentVolumeClaim", At(volume, "persistentVolumeClaim.claimName").GetString());
        Assert.Contains("ReadWriteMany", At(claim, "spec.accessModes").EnumerateArray().Select(mode => mode.GetString()));
        Assert.Equal(At(pod, "securityContext.runAsGroup").GetInt32(), At(pod, "securityContext.fsGroup").GetInt32());
    }

    [Fact]
    public async Task SelfServiceRegistrationIsOff()
    {
        var config = await SingleAsync("ConfigMap", "taskrunner-config");

        Assert.Equal("false", At(config, "data.Auth__RegistrationEnabled").GetString());
    }

    [Fact]
    public async Task TheAutoscalerScalesTheDeploymentOnCpuAndTheReadyQueue()
    {
        var autoscaler = await SingleAsync("HorizontalPodAutoscaler", "taskrunner");
        var budget = await SingleAsync("PodDisruptionBudget", "taskrunner");
        var metrics = At(autoscaler, "spec.metrics").EnumerateArray().ToList();

        Assert.Equal("Deployment", At(autoscaler, "spec.scaleTargetRef.kind").GetString());
        Assert.Equal("taskrunner", At(autoscaler, "spec.scaleTargetRef.name").GetString());
        Assert.Contains(metrics, metric => metric.GetProperty("type").GetString() == "Resource" && At(metric, "resource.name").GetString() == "cpu");
        Assert.Contains(metrics, metric => metric.GetProperty("type").GetString() == "External"
            && At(metric, "external.metric.name").GetString() == "taskrunner_engine_ready_queue_depth");
        Assert.True(At(autoscaler, "spec.minReplicas").GetInt32() > At(budget, "spec.minAvailable").GetInt32(),
            "with no more pods than the disruption budget keeps, a node drain could never evict one");
    }

    [Fact]
    public async Task TheLargestRolloutFitsInPostgresConnections()
    {
        var autoscaler = await SingleAsync("HorizontalPodAutoscaler", "taskrunner");
        var surge = At(await SingleAsync("Deployment", "taskrunner"), "spec.strategy.rollingUpdate.maxSurge").GetInt32();
        var pool = await ConfigNumberAsync("Database__MaxPoolSize");

        var connections = (At(autoscaler, "spec.maxReplicas").GetInt32() + surge) * pool;
        // PostgreSQL's default max_connections is 100; a fifth is kept for the migrator, admin sessions and monitoring.
        Assert.True(connections <= 80, $"{connections} connections at the largest rollout");
    }

    [Fact]
    public async Task EveryPodSelectorMatchesTheServicePods()
    {
        var podLabels = At(await SingleAsync("Deployment", "taskrunner"), "spec.template.metadata.labels");
        var selectors = new[]
        {
            At(await SingleAsync("Deployment", "taskrunner"), "spec.selector.matchLabels"),
            At(await SingleAsync("Service", "taskrunner"), "spec.selector"),
            At(await SingleAsync("PodDisruptionBudget", "taskrunner"), "spec.selector.matchLabels"),
            At(await SingleAsync("NetworkPolicy", "taskrunner"), "spec.podSelector.matchLabels"),
        };

        foreach (var selector in selectors)
            foreach (var label in selector.EnumerateObject())
                Assert.Equal(label.Value.GetString(), podLabels.GetProperty(label.Name).GetString());
    }

    [Fact]
    public async Task TheNetworkPolicyLetsInOnlyTheServicePortAndLetsWebhooksOutOnTheAllowedPorts()
    {
        var policy = await SingleAsync("NetworkPolicy", "taskrunner");
        var config = await SingleAsync("ConfigMap", "taskrunner-config");

        Assert.Equal(new[] { "Ingress", "Egress" }, At(policy, "spec.policyTypes").EnumerateArray().Select(type => type.GetString()));
        var ingressPorts = At(policy, "spec.ingress").EnumerateArray().SelectMany(rule => rule.GetProperty("ports").EnumerateArray());
        Assert.All(ingressPorts, port => Assert.Equal("http", port.GetProperty("port").GetString()));
        var webhookRule = Assert.Single(At(policy, "spec.egress").EnumerateArray(),
            rule => rule.TryGetProperty("to", out var to) && to.EnumerateArray().Any(peer => peer.TryGetProperty("ipBlock", out _)));
        var webhookPorts = webhookRule.GetProperty("ports").EnumerateArray().Select(port => port.GetProperty("port").GetInt32()).Order();
        var allowedActionPorts = At(config, "data.Tasks__AllowedActionPorts").GetString()!.Split(',').Select(int.Parse).Order();
        Assert.Equal(allowedActionPorts, webhookPorts);
    }
}
