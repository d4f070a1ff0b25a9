using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Hosting;

namespace PolicyKit.AI.Tests;

public sealed class ChatClientRegistrationTests(TinyModel model) : IClassFixture<TinyModel>
{
    private ServiceProvider Build(Action<PolicyKitBuilder>? more = null) => Hosts.Build(model.Directory, genLength: 16, steps: 8, blockLength: 8, more);

    [Fact]
    public async Task Middleware_composes_over_the_client_and_metadata_passes_through()
    {
        var services = new ServiceCollection();
        int calls = 0;
        services.AddPolicyKit(o => { o.ModelDirectory = model.Directory; o.Sampler.GenLength = 16; o.Sampler.Steps = 8; o.Sampler.BlockLength = 8; })
            .AddChatClient()
            .Use(async (messages, options, next, cancellationToken) =>
            {
                calls++;
                await next(messages, options, cancellationToken);
            });
        await using var provider = services.BuildServiceProvider(validateScopes: true);
        var client = provider.GetRequiredService<IChatClient>();

        Assert.IsNotType<PolicyKitChatClient>(client);
        var metadata = client.GetRequiredService<ChatClientMetadata>();
        Assert.Equal(PolicyKitChatClient.ProviderName, metadata.ProviderName);
        Assert.Equal(Path.GetFileName(model.Directory), metadata.DefaultModelId);
        Assert.Equal("dllm-cache", client.GetRequiredService<PolicyKitChatClient>().Policy);
        Assert.Same(provider.GetRequiredService<IDiffusionGenerator>(), client.GetService<IDiffusionGenerator>());

        var response = await client.GetResponseAsync("Hello");
        Assert.Equal(1, calls);
        Assert.Equal("dllm-cache", response.AdditionalProperties![PolicyKitChatProperties.Policy]);
        Assert.Equal(metadata.DefaultModelId, response.ModelId);
    }

    [Fact]
    public async Task OpenTelemetry_middleware_spans_parent_the_engine_activity()
    {
        var activities = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is PolicyKitTelemetry.Name or "chat-test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (activities) activities.Add(activity); },
        };
        ActivitySource.AddActivityListener(listener);

        var services = new ServiceCollection();
        services.AddPolicyKit(o => { o.ModelDirectory = model.Directory; o.Sampler.GenLength = 16; o.Sampler.Steps = 8; o.Sampler.BlockLength = 8; })
            .AddChatClient()
            .UseOpenTelemetry(sourceName: "chat-test");
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<IChatClient>().GetResponseAsync("Hello");

        Activity chat, generate;
        lock (activities)
        {
            chat = activities.Single(a => a.Source.Name == "chat-test");
            generate = activities.Single(a => a.Source.Name == PolicyKitTelemetry.Name && a.ParentSpanId == chat.SpanId);
        }
        Assert.Equal(PolicyKitTelemetry.GenerateActivityName, generate.OperationName);
        Assert.Equal(chat.TraceId, generate.TraceId);
        Assert.Equal("dllm-cache", generate.GetTagItem(PolicyKitTelemetry.Tags.Policy));
    }

    [Fact]
    public async Task Keyed_clients_run_under_their_policy()
    {
        await using var provider = Build(builder => builder.AddKeyedChatClient("fast-dllm-dual"));
        var keyed = provider.GetRequiredKeyedService<IChatClient>("fast-dllm-dual");
        var response = await keyed.GetResponseAsync("Hello");
        Assert.Equal("fast-dllm-dual", response.AdditionalProperties![PolicyKitChatProperties.Policy]);
        // A request's own policy wins over the client's.
        var other = await keyed.GetResponseAsync("Hello", Hosts.Options("none"));
        Assert.Equal("none", other.AdditionalProperties![PolicyKitChatProperties.Policy]);
    }

    [Fact]
    public void Every_policy_gets_a_keyed_client()
    {
        using var provider = Build(builder => builder.AddKeyedChatClients());
        foreach (var name in Hosts.BuiltInPolicies)
            Assert.Equal(name, provider.GetRequiredKeyedService<IChatClient>(name).GetRequiredService<PolicyKitChatClient>().Policy);
    }

    [Fact]
    public async Task Unknown_policies_fail_naming_them()
    {
        await using var provider = Build(builder => builder.AddKeyedChatClient("no-such-policy"));
        var resolve = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredKeyedService<IChatClient>("no-such-policy"));
        Assert.Contains("unknown cache policy 'no-such-policy'", resolve.Message);

        var client = provider.GetRequiredService<IChatClient>();
        var request = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync("Hello", Hosts.Options("nope")));
        Assert.Contains("ChatOptions.AdditionalProperties[\"policykit.policy\"]: Unknown cache policy 'nope'", request.Message);
        await Assert.ThrowsAsync<ArgumentException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("Hello", Hosts.Options("nope"))) { }
        });
    }

    [Fact]
    public async Task A_registered_formatter_replaces_the_plain_one()
    {
        var formatter = new RecordingFormatter();
        var services = new ServiceCollection();
        services.AddSingleton<IChatPromptFormatter>(formatter);
        services.AddPolicyKit(o => { o.ModelDirectory = model.Directory; o.Sampler.GenLength = 16; o.Sampler.Steps = 8; o.Sampler.BlockLength = 8; })
            .AddChatClient();
        await using var provider = services.BuildServiceProvider();
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var response = await provider.GetRequiredService<IChatClient>().GetResponseAsync([new(ChatRole.System, "sys"), new(ChatRole.User, "hi")]);
        Assert.True(formatter.AddGenerationPrompt);
        Assert.Equal(2, formatter.Messages);
        Assert.Equal(generator.Model.Tokenizer.Encode(RecordingFormatter.Prompt).Length, response.Usage!.InputTokenCount);
    }

    private sealed class RecordingFormatter : IChatPromptFormatter
    {
        public const string Prompt = "<|user|>formatted prompt<|assistant|>";

        public bool AddGenerationPrompt { get; private set; }

        public int Messages { get; private set; }

        public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            Messages = messages.Count;
            AddGenerationPrompt = addGenerationPrompt;
            return Prompt;
        }
    }
}

public sealed class PlainChatPromptFormatterTests
{
    [Fact]
    public void Joins_system_user_and_assistant_text_with_newlines()
    {
        var prompt = PlainChatPromptFormatter.Instance.Format(
        [
            new(ChatRole.System, "Reverse the letters."),
            new(ChatRole.User, "aXbY="),
            new(ChatRole.Tool, "ignored"),
            new(ChatRole.Assistant, "bYaX"),
            new(ChatRole.User, "aQ="),
        ], addGenerationPrompt: true);
        Assert.Equal("Reverse the letters.\naXbY=\nbYaX\naQ=", prompt);
    }

    [Fact]
    public void A_single_user_message_reaches_the_model_unchanged() =>
        Assert.Equal("aBcD=\n", PlainChatPromptFormatter.Instance.Format([new(ChatRole.User, "aBcD=\n")], addGenerationPrompt: true));

    [Fact]
    public void Messages_without_text_are_refused() =>
        Assert.Contains("no system, user or assistant text",
            Assert.Throws<ArgumentException>(() => PlainChatPromptFormatter.Instance.Format([new(ChatRole.Tool, "x"), new(ChatRole.User, "")], true)).Message);
}
