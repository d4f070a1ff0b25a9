using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace PolicyKit.Hosting.Tests;

/// <summary>Bad configuration stops the start (the startup validator a host runs) with a message naming the setting.</summary>
public sealed class OptionsValidationTests(TinyModel model) : IClassFixture<TinyModel>
{
    private static Exception StartFailure(IDictionary<string, string?> settings)
    {
        using var provider = Hosts.Build(settings);
        return Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IStartupValidator>().Validate());
    }

    [Fact]
    public void Valid_configuration_starts()
    {
        using var provider = Hosts.Build(Hosts.Settings(model.Directory));
        provider.GetRequiredService<IStartupValidator>().Validate();
    }

    [Fact]
    public void Batching_limits_out_of_range_name_the_setting()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("Batching:MaxBatchSize", "0"), ("Batching:MaxQueuedRequests", "-1")));
        Assert.Contains("PolicyKit:Batching:MaxBatchSize: must be at least 1", e.Message);
        Assert.Contains("PolicyKit:Batching:MaxQueuedRequests: must be at least 0", e.Message);
    }

    [Fact]
    public void Missing_model_directory_names_the_setting()
    {
        var settings = Hosts.Settings(model.Directory);
        settings.Remove("ModelDirectory");
        var e = Assert.IsType<OptionsValidationException>(StartFailure(settings));
        Assert.Contains("PolicyKit:ModelDirectory is required", e.Message);
    }

    [Fact]
    public void Model_directory_that_does_not_exist_names_the_setting_and_the_path()
    {
        var missing = Path.Combine(model.Directory, "nope");
        var e = StartFailure(Hosts.Settings(missing));
        Assert.Contains("PolicyKit:ModelDirectory", e.Message);
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Unknown_default_policy_names_the_setting_and_lists_the_known_ones()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("DefaultPolicy", "no-such-policy")));
        Assert.Contains("PolicyKit:DefaultPolicy: unknown policy 'no-such-policy'", e.Message);
        Assert.Contains("dllm-cache", e.Message);
        Assert.Contains("host-policy", e.Message);
    }

    [Fact]
    public void Ratio_out_of_range_is_rejected_with_the_diagnostic_id_of_the_attribute()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("Policies:dllm-cache:AdaptiveResponse.Ratio", "2.0")));
        Assert.Contains("PolicyKit:Policies:dllm-cache:AdaptiveResponse.Ratio", e.Message);
        Assert.Contains("PK0003", e.Message);
    }

    [Fact]
    public void Interval_below_one_is_rejected_with_PK0002()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("Policies:host-policy:ResponseRefresh.Every", "0")));
        Assert.Contains("PolicyKit:Policies:host-policy:ResponseRefresh.Every", e.Message);
        Assert.Contains("PK0002", e.Message);
    }

    [Fact]
    public void Overrides_of_an_unknown_policy_or_parameter_are_rejected()
    {
        var e = StartFailure(Hosts.Settings(model.Directory,
            ("Policies:no-such-policy:ResponseRefresh.Every", "3"),
            ("Policies:dllm-cache:Refresh.Sometimes", "3")));
        Assert.Contains("PolicyKit:Policies:no-such-policy: unknown policy", e.Message);
        Assert.Contains("PolicyKit:Policies:dllm-cache", e.Message);
        Assert.Contains("Refresh.Sometimes", e.Message);
    }

    [Fact]
    public void Bad_sampler_device_and_dtype_settings_are_all_reported()
    {
        var e = Assert.IsType<OptionsValidationException>(StartFailure(Hosts.Settings(model.Directory,
            ("Sampler:BlockLength", "5"), ("Device", "tpu"), ("DType", "int8"))));
        Assert.Contains("PolicyKit:Sampler:BlockLength", e.Message);
        Assert.Contains("PolicyKit:Device: 'tpu'", e.Message);
        Assert.Contains("PolicyKit:DType: 'int8'", e.Message);
        Assert.Equal(3, e.Failures.Count());
    }

    [Fact]
    public void Threshold_outside_zero_one_is_rejected()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("Sampler:Threshold", "1.5")));
        Assert.Contains("PolicyKit:Sampler:Threshold", e.Message);
    }

    [Fact]
    public void A_misspelt_setting_is_an_error_not_a_silent_default()
    {
        var e = StartFailure(Hosts.Settings(model.Directory, ("DefaultPolicyy", "none")));
        Assert.Contains("DefaultPolicyy", e.Message);
    }

    [Fact]
    public void Options_configured_in_code_are_validated_too()
    {
        var services = new ServiceCollection();
        services.AddPolicyKit(options => options.Override("dllm-cache", "AdaptiveResponse.Ratio", 2.0));
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("PolicyKit:ModelDirectory", e.Message);
        Assert.Contains("PK0003", e.Message);
    }
}
