using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Model;
using TorchSharp;

namespace PolicyKit.Hosting.Tests;

public sealed class GeneratorServiceTests(TinyModel model) : IClassFixture<TinyModel>
{
    private static readonly string[] Prompts = ["Hello there", "The quick brown fox", "1 2 3 4", "policy kit"];
    private static readonly string[] PolicyNames = ["none", "dllm-cache", "fast-dllm-dual", "host-policy"];

    [Fact]
    public async Task Concurrent_requests_give_the_same_answers_as_sequential_ones()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var requests = Prompts.SelectMany(prompt => PolicyNames.Select(policy => (prompt, policy))).ToArray();

        var sequential = new List<IReadOnlyList<long>>();
        foreach (var (prompt, policy) in requests)
            sequential.Add((await generator.GenerateAsync(prompt, policy)).TokenIds);

        var concurrent = await Task.WhenAll(requests.Select(r => generator.GenerateAsync(r.prompt, r.policy)));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(requests[i].policy, concurrent[i].Policy);
            Assert.Equal(16, concurrent[i].TokenIds.Count);
            Assert.True(sequential[i].SequenceEqual(concurrent[i].TokenIds), $"request {i} ({requests[i]}) differs when run concurrently");
        }
    }

    [Fact]
    public async Task The_default_policy_and_sampler_settings_apply_when_a_request_names_none()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory, ("DefaultPolicy", "host-policy"), ("Sampler:Steps", "4")));
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var result = await generator.GenerateAsync("Hello");
        Assert.Equal("host-policy", result.Policy);
        Assert.Equal(4, result.Steps);
        Assert.True(result.RecomputeFraction < 1);
    }

    [Fact]
    public async Task Unknown_policy_empty_prompt_and_cancellation_fail_the_request()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync("Hello", "no-such-policy"));
        Assert.Contains("no-such-policy", unknown.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => generator.GenerateAsync(""));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync("Hello", cancellationToken: cancelled.Token));
    }

    [Fact]
    public async Task Disposing_the_container_disposes_the_model()
    {
        DiffusionModel loaded;
        using (var provider = Hosts.Build(Hosts.Settings(model.Directory)))
        {
            var generator = provider.GetRequiredService<IDiffusionGenerator>();
            await generator.GenerateAsync("Hello");
            loaded = provider.GetRequiredService<DiffusionModel>();
            Assert.Same(loaded, provider.GetRequiredService<PolicyKit.Diffusion.Generation.TextGenerator>().Model);
        }
        using var ids = torch.zeros(1, 4, dtype: torch.ScalarType.Int64);
        Assert.Throws<ObjectDisposedException>(() => loaded.Forward(ids, null, 0, 4));
    }
}
