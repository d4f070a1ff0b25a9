using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace PolicyKit.Hosting.Tests;

/// <summary>The appsettings.json shape the README shows, numbers and all.</summary>
public sealed class JsonConfigurationTests(TinyModel model) : IClassFixture<TinyModel>
{
    [Fact]
    public void The_documented_appsettings_shape_binds()
    {
        var json = $$"""
            {
              "PolicyKit": {
                "ModelDirectory": {{System.Text.Json.JsonSerializer.Serialize(model.Directory)}},
                "Device": "cpu",
                "DType": "bfloat16",
                "DefaultPolicy": "host-policy",
                "Sampler": { "GenLength": 32, "Steps": 16, "BlockLength": 16, "Temperature": 0.5, "Threshold": 0.8 },
                "Policies": {
                  "dllm-cache": { "ResponseRefresh.Every": 5 },
                  "host-policy": { "AdaptiveResponse.Ratio": 0.125 }
                }
              }
            }
            """;
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection();
        services.AddPolicyKit(configuration.GetSection(PolicyKitOptions.SectionName))
            .AddPolicies(PolicyKit.Generated.PolicyKitHostingTestsPolicyRegistry.Instance);
        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var options = provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value;
        Assert.Equal(TorchSharp.torch.ScalarType.BFloat16, PolicyKitOptions.ParseDType(options.DType));
        Assert.Equal(0.8, options.Sampler.Threshold);
        Assert.Equal(0.5, options.Sampler.Temperature);
        Assert.Contains(provider.GetRequiredKeyedService<ICachePolicy>("dllm-cache").Parameters, p => p is { Name: "ResponseRefresh.Every", Value: "5" });
        Assert.Contains(provider.GetRequiredService<ICachePolicy>().Parameters, p => p is { Name: "AdaptiveResponse.Ratio", Value: "0.125" });
    }
}
