namespace PolicyKit.Cli.Tests;

/// <summary><c>bench --policies</c> entries with overrides: <c>name:Parameter=value:...</c>.</summary>
public class PolicySpecTests
{
    private static string Value(ICachePolicy policy, string parameter) => policy.Parameters.Single(p => p.Name == parameter).Value;

    [Fact]
    public void A_spec_overrides_the_named_parameters_and_keeps_the_rest()
    {
        var policy = Policies.FromSpec("dllm-cache:AdaptiveResponse.Ratio=1 : ResponseRefresh.Every=3");

        Assert.Equal("dllm-cache", policy.Name);
        Assert.Equal("1", Value(policy, "AdaptiveResponse.Ratio"));
        Assert.Equal("3", Value(policy, "ResponseRefresh.Every"));
        Assert.Equal(Value(Policies.Create("dllm-cache"), "PromptRefresh.Every"), Value(policy, "PromptRefresh.Every"));
        Assert.Equal(Value(Policies.Create("dllm-cache"), "AdaptiveResponse.Ratio"), Value(Policies.FromSpec("dllm-cache"), "AdaptiveResponse.Ratio"));
    }

    [Theory]
    [InlineData("dllm-cache:Ratio", "is not Parameter=value")]
    [InlineData("dllm-cache:AdaptiveResponse.Ratio=", "is not Parameter=value")]
    [InlineData("dllm-cache:=1", "is not Parameter=value")]
    [InlineData("dllm-cache:ResponseRefresh.Every=3:ResponseRefresh.Every=4", "sets ResponseRefresh.Every twice")]
    [InlineData("dllm-cache:Nope=1", "no overridable parameter 'Nope'")]
    [InlineData("dllm-cache:AdaptiveResponse.Ratio=2", "PK0003")]
    [InlineData("no-such-policy:AdaptiveResponse.Ratio=1", "unknown policy 'no-such-policy'")]
    public void A_bad_spec_is_refused_with_what_is_wrong(string spec, string expected)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Policies.FromSpec(spec));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
