using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Generated;

namespace PolicyKit.Hosting.Tests;

public sealed class PolicyRegistrationTests(TinyModel model) : IClassFixture<TinyModel>
{
    [Fact]
    public void Every_generated_policy_resolves_by_its_name()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        var catalog = provider.GetRequiredService<PolicyCatalog>();
        Assert.Equal(PolicyKitPoliciesPolicyRegistry.Names.Count + 1, catalog.Count);
        foreach (var name in catalog.Names)
        {
            var policy = provider.GetRequiredKeyedService<ICachePolicy>(name);
            Assert.Equal(name, policy.Name);
            Assert.Same(policy, provider.GetRequiredKeyedService<ICachePolicy>(name)); // singleton
        }
        Assert.IsType<HostPolicy>(provider.GetRequiredKeyedService<ICachePolicy>("host-policy"));
        Assert.Null(provider.GetKeyedService<ICachePolicy>("no-such-policy"));
    }

    [Fact]
    public void The_unkeyed_policy_is_the_default_policy()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory, ("DefaultPolicy", "host-policy")));
        Assert.Same(provider.GetRequiredKeyedService<ICachePolicy>("host-policy"), provider.GetRequiredService<ICachePolicy>());
    }

    [Fact]
    public void A_host_registration_made_first_replaces_the_generated_policy()
    {
        var mine = new PolicyKit.Policies.PromptCache();
        using var provider = Hosts.Build(Hosts.Settings(model.Directory),
            before: services => services.AddKeyedSingleton<ICachePolicy>("dllm-cache", mine));
        Assert.Same(mine, provider.GetRequiredKeyedService<ICachePolicy>("dllm-cache"));
        Assert.IsType<PolicyKit.Policies.FastDllmDualCache>(provider.GetRequiredKeyedService<ICachePolicy>("fast-dllm-dual"));
    }

    [Fact]
    public void A_hand_registered_policy_name_is_a_valid_default()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory, ("DefaultPolicy", "hand-written")),
            before: services => services.AddKeyedSingleton<ICachePolicy>("hand-written", new PolicyKit.Policies.NoCache()));
        provider.GetRequiredService<Microsoft.Extensions.Options.IStartupValidator>().Validate();
    }

    [Fact]
    public void Overrides_from_configuration_reach_the_policy()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory,
            ("Policies:dllm-cache:ResponseRefresh.Every", "5"),
            ("Policies:DLLM-CACHE:AdaptiveResponse.Probe", "Key"),
            ("Policies:host-policy:PromptRefresh.Every", "3")));
        var dllm = provider.GetRequiredKeyedService<ICachePolicy>("dllm-cache");
        Assert.Equal("5", Parameter(dllm, "ResponseRefresh.Every"));
        Assert.Equal("Key", Parameter(dllm, "AdaptiveResponse.Probe"));
        Assert.Equal("100", Parameter(dllm, "PromptRefresh.Every")); // untouched: the declared default

        // The plan follows the new interval, not the declared 7.
        var context = new StepContext
        {
            Step = 5, Layer = 1, LayerCount = 3, StepInBlock = 5,
            StepsSincePromptRefresh = 5, StepsSinceResponsePrefixRefresh = 5, StepsSinceActiveBlockRefresh = 5, StepsSinceResponseSuffixRefresh = 5,
        };
        Assert.Equal(ActionKind.Refresh, dllm.Plan(in context).ActiveBlock.Kind);
        Assert.Equal(ActionKind.Adaptive, new PolicyKit.Policies.DllmCache().Plan(in context).ActiveBlock.Kind);

        Assert.Equal("3", Parameter(provider.GetRequiredKeyedService<ICachePolicy>("host-policy"), "PromptRefresh.Every"));
        Assert.Equal("100", Parameter(provider.GetRequiredKeyedService<ICachePolicy>("prompt-cache"), "PromptRefresh.Every"));
    }

    [Fact]
    public void Policies_found_by_assembly_attribute_are_added_once()
    {
        var services = new ServiceCollection();
        services.AddPolicyKit(options => options.ModelDirectory = model.Directory)
            .AddPoliciesFromAssemblies(typeof(HostPolicy).Assembly)
            .AddPoliciesFromAssemblies(typeof(HostPolicy).Assembly);
        services.AddPolicyKit(); // a second call extends the first
        using var provider = services.BuildServiceProvider();
        Assert.Contains("host-policy", provider.GetRequiredService<PolicyCatalog>().Names);
        Assert.IsType<HostPolicy>(provider.GetRequiredKeyedService<ICachePolicy>("host-policy"));
        Assert.Single(services, d => d.IsKeyedService && Equals(d.ServiceKey, "host-policy"));
        Assert.Throws<ArgumentException>(() => services.AddPolicyKit().AddPoliciesFromAssemblies(typeof(string).Assembly));
    }

    private static string Parameter(ICachePolicy policy, string name) => policy.Parameters.Single(p => p.Name == name).Value;
}
