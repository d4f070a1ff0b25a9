using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PolicyKit;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Generated;
using PolicyKit.Hosting;

// The conventional namespace, so AddPolicyKit shows up next to the other Add* calls.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PolicyKit with dependency injection.</summary>
public static class PolicyKitServiceCollectionExtensions
{
    /// <summary>
    /// Adds PolicyKit: <see cref="PolicyKitOptions"/> (validated at start), the built-in policies as keyed
    /// <see cref="ICachePolicy"/> singletons (with overrides from the options), the <see cref="PolicyCatalog"/>, the
    /// model (a singleton loaded on first use and disposed with the container), <see cref="IDiffusionGenerator"/> and its
    /// <see cref="PolicyKitMetrics"/> (the <c>PolicyKit</c> meter; see <see cref="PolicyKitTelemetry"/>).
    /// </summary>
    public static PolicyKitBuilder AddPolicyKit(this IServiceCollection services, Action<PolicyKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = AddCore(services);
        if (configure is not null)
            services.Configure(configure);
        return builder;
    }

    /// <summary>
    /// Adds PolicyKit with its options bound from <paramref name="section"/> (normally <c>configuration.GetSection("PolicyKit")</c>),
    /// then <paramref name="configure"/>. A key that is not a setting (a typo) fails validation.
    /// </summary>
    public static PolicyKitBuilder AddPolicyKit(this IServiceCollection services, IConfiguration section, Action<PolicyKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        var builder = AddCore(services);
        services.AddOptions<PolicyKitOptions>().Bind(section, binder => binder.ErrorOnUnknownConfiguration = true);
        if (configure is not null)
            services.Configure(configure);
        return builder;
    }

    private static PolicyKitBuilder AddCore(IServiceCollection services)
    {
        // A second AddPolicyKit call extends the first registration instead of duplicating it.
        var registrations = services.FirstOrDefault(d => d.ServiceType == typeof(PolicyRegistrations))?.ImplementationInstance as PolicyRegistrations;
        if (registrations is null)
        {
            registrations = new PolicyRegistrations();
            services.AddSingleton(registrations);
            services.AddOptions<PolicyKitOptions>().ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PolicyKitOptions>, PolicyKitOptionsValidator>());
            services.TryAddSingleton(provider => PolicyCatalog.FromRegistries([.. provider.GetRequiredService<PolicyRegistrations>().Registries]));

            // The container creates the model, so it disposes it; the generator only borrows it.
            services.TryAddSingleton(provider =>
            {
                var options = provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value;
                return DiffusionModel.Load(options.ModelDirectory!, options.Device, PolicyKitOptions.ParseDType(options.DType)!.Value);
            });
            services.TryAddSingleton(provider => new TextGenerator(provider.GetRequiredService<DiffusionModel>()));
            // One meter per container, through the host's IMeterFactory when it has one (see PolicyKitTelemetry).
            services.TryAddSingleton(provider => new PolicyKitMetrics(provider.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
            services.TryAddSingleton<IDiffusionGenerator, DiffusionGenerator>();
            // The default policy without a key, for code that only needs "the" policy.
            services.TryAddSingleton(provider => provider.GetRequiredKeyedService<ICachePolicy>(
                provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value.DefaultPolicy));
        }
        var builder = new PolicyKitBuilder(services, registrations);
        builder.AddPolicies(PolicyKitPoliciesPolicyRegistry.Instance);
        return builder;
    }
}
