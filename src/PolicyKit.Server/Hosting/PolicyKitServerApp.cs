using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PolicyKit.Hosting;

namespace PolicyKit.Server;

/// <summary>The whole server as one Kestrel application: what <c>policykit serve</c> runs, and what the tests start.</summary>
public static class PolicyKitServerApp
{
    /// <summary>
    /// Builds (does not start) an application listening on <paramref name="urls"/> (<c>;</c>-separated; port 0 picks a
    /// free one, read back from <c>app.Urls</c> once started), with PolicyKit configured by <paramref name="configure"/>.
    /// <paramref name="services"/> may register the host's own <see cref="IChatClient"/>; without one, chat
    /// completions run on PolicyKit's (<c>PolicyKit.AI</c>: the model's chat template, per-step streaming).
    /// </summary>
    public static WebApplication Build(string urls, Action<PolicyKitOptions> configure, Action<PolicyKitServerOptions>? server = null,
        Action<IServiceCollection>? services = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(urls);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(urls);
        // One line per request is noise next to generations that take seconds; start-up and errors still show.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        var policyKit = builder.Services.AddPolicyKit(configure);
        builder.Services.AddPolicyKitServer(server);
        services?.Invoke(builder.Services);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IChatClient) && !d.IsKeyedService))
            policyKit.AddChatClient();
        var app = builder.Build();
        app.MapPolicyKitOpenAI();
        return app;
    }
}
