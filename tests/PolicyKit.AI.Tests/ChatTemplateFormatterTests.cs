using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Templating;

namespace PolicyKit.AI.Tests;

public class ChatTemplateFormatterTests
{
    [Fact]
    public void The_shipped_model_is_formatted_with_its_own_chat_template_which_keeps_a_task_prompt_as_written()
    {
        using var provider = Hosts.Build(Hosts.ShippedModel, 32, 32, 16);
        var formatter = provider.GetRequiredService<IChatPromptFormatter>();

        Assert.IsType<ChatTemplatePromptFormatter>(formatter);
        Assert.Equal("aBcD=", formatter.Format([new ChatMessage(ChatRole.User, "aBcD=")], addGenerationPrompt: true));
        Assert.Equal("be brief\naBcD=", formatter.Format([new(ChatRole.System, "be brief"), new(ChatRole.User, "aBcD=")], true));
    }

    [Fact]
    public void A_model_without_a_chat_template_gets_the_plain_formatter()
    {
        using var model = new TinyModel();
        using var provider = Hosts.Build(model.Directory, 8, 8, 8);
        Assert.Same(PlainChatPromptFormatter.Instance, provider.GetRequiredService<IChatPromptFormatter>());
    }

    [Fact]
    public void A_template_renders_roles_contents_special_tokens_and_the_generation_prompt()
    {
        var template = ChatTemplate.Parse(
            "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}");
        var formatter = new ChatTemplatePromptFormatter(template, new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });

        var prompt = formatter.Format([new(ChatRole.System, "S"), new(ChatRole.User, "hi"), new(ChatRole.Assistant, "yo"), new(ChatRole.User, "again")], true);

        Assert.Equal("<s><|system|>S</s><|user|>hi</s><|assistant|>yo</s><|user|>again</s><|assistant|>", prompt);
    }

    [Fact]
    public void A_template_error_becomes_an_argument_error_with_the_templates_message()
    {
        var formatter = new ChatTemplatePromptFormatter(ChatTemplate.Parse("{{ raise_exception('only user turns') }}"));
        var e = Assert.Throws<ArgumentException>(() => formatter.Format([new(ChatRole.User, "x")], true));
        Assert.Contains("only user turns", e.Message);
    }
}
